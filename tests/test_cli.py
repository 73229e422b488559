"""The commands as a user meets them first: ``--help`` with every default, ``--version`` from the
one version in pyproject.toml, both without loading torch; the commands they print for the user to
run next, as they work when pasted."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mnist_mlp
from mnist_mlp.cli import common
from mnist_mlp.cli.options import PARSERS
from mnist_mlp.textbook import names
from mnist_mlp.textbook.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from mnist_mlp.textbook.losses import LOSSES
from mnist_mlp.textbook.model import INITS
from mnist_mlp.training.config import LARGEST_LR

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = (ROOT / "pyproject.toml").read_text()
CONSOLE = {command: (module, function) for command, module, function in re.findall(
    r'^(mnist-mlp-\w+) = "(mnist_mlp\w*(?:\.\w+)*):(\w+)"$', PYPROJECT, re.M)}
"""Each console command of pyproject.toml: the module and the function it runs."""
SCRIPTS = sorted(path.stem for path in (ROOT / "scripts").glob("*.py")
                 if f'run("{path.stem}")' in path.read_text()
                 or "from mnist_mlp_demo import main" in path.read_text())
"""The scripts that run a command: the library's, the lab's, the demo's."""
LIBRARY = sorted(PARSERS)
"""The library's commands, whose options load no torch."""
WITHOUT_TORCH = [*LIBRARY, "demo"]
"""The commands whose options load no torch: the library's and the demo's, each a console
command."""


def run(code: str, *argv: str, importtime: bool = False) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter with ``sys.argv[1:] = argv``, this checkout first."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-c", code, *argv], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)


def console(command: str) -> str:
    """Code that runs the console command ``command`` as its entry point does."""
    module, function = CONSOLE[command]
    return f"import sys; sys.argv[0] = {command!r}; from {module} import {function}" \
           f"; sys.exit({function}())"


def script(name: str) -> str:
    """Code that runs ``scripts/<name>.py`` as ``python scripts/<name>.py`` does."""
    return f"import runpy, sys; sys.argv[0] = 'scripts/{name}.py'; " \
           f"runpy.run_path('scripts/{name}.py', run_name='__main__')"


def test_every_console_command_is_a_command_with_a_script():
    assert set(CONSOLE) == {f"mnist-mlp-{name}" for name in WITHOUT_TORCH}
    assert set(WITHOUT_TORCH) <= set(SCRIPTS)
    assert {module for module, _ in CONSOLE.values()} == {"mnist_mlp.cli", "mnist_mlp_demo"}


def test_the_names_without_torch_are_the_textbook_tables():
    assert names.HIDDEN_ACTIVATION_NAMES == tuple(HIDDEN_ACTIVATIONS)
    assert names.OUTPUT_ACTIVATION_NAMES == tuple(OUTPUT_ACTIVATIONS)
    assert names.LOSS_NAMES == tuple(LOSSES)
    assert names.INIT_NAMES == INITS
    assert LARGEST_LR == torch.finfo(torch.float32).max


def loaded_torch(importtime: str) -> bool:
    """Whether ``python -X importtime`` imported torch (its report, one line per module)."""
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in importtime.splitlines())


@pytest.mark.parametrize("flag", ["--help", "--version"])
@pytest.mark.parametrize("command", WITHOUT_TORCH)
def test_help_and_version_answer_without_torch(command, flag):
    for code in (console(f"mnist-mlp-{command}"), script(command)):
        done = run(code, flag, importtime=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.startswith("usage:" if flag == "--help" else "mnist-mlp ")
        assert not loaded_torch(done.stderr), f"{command} {flag} imported torch"


def test_the_check_for_torch_sees_torch():
    done = run("import torch", importtime=True)
    assert loaded_torch(done.stderr)


def test_a_mistyped_option_is_one_line_before_torch():
    done = run(console("mnist-mlp-train"), "--lr", "x", importtime=True)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if not line.startswith("import time")]
    assert errors == ["mnist-mlp-train: error: argument --lr: invalid positive_float value: "
                      "'x' (see --help)"]
    assert not loaded_torch(done.stderr)


def parsers():
    """Each command's parser: the library's from ``options``, the demo's from its ``options``,
    the lab's from its module."""
    lab = [name for name in SCRIPTS if name not in WITHOUT_TORCH]
    return {**{name: PARSERS[name]() for name in LIBRARY},
            "demo": importlib.import_module("mnist_mlp_demo.options").demo_parser(),
            **{name: importlib.import_module(f"mnist_mlp_lab.commands.{name}").parser()
               for name in lab}}


def help_blocks(text: str) -> dict[str, str]:
    """``--help``'s text of each option, by each of its names (``-h`` and ``--help``)."""
    blocks: dict[str, str] = {}
    current: list[str] = []
    for line in text.splitlines():
        start = re.match(r"  (-[^ ].*)", line)
        if start:
            current = [start.group(1)]
            invocation = start.group(1).split("  ")[0]  # "-h, --help", "--lr LR [LR ...]"
            for name in re.findall(r"(?:^|, )(--?[\w-]+)", invocation):
                blocks[name] = current
        elif line.startswith("   ") and current:
            current.append(line.strip())
        else:
            current = []
    return {name: " ".join(lines) for name, lines in blocks.items()}


@pytest.mark.parametrize("command", SCRIPTS)
def test_help_names_every_default(command):
    parser = parsers()[command]
    blocks = help_blocks(parser.format_help())
    options = [action for action in parser._actions if action.option_strings]
    assert {"--help", "--version"} <= set(blocks)
    for action in options:
        text = blocks[action.option_strings[-1]]
        assert "(default: None)" not in text
        if action.default is not None and action.help != "==SUPPRESS==" \
                and action.option_strings[-1] not in ("--help", "--version"):
            assert "(default" in text, f"{command} {action.option_strings[-1]}: {text}"


def test_a_list_default_is_shown_as_typed():
    blocks = help_blocks(PARSERS["train"]().format_help())
    assert blocks["--lr"].endswith("(default: 0.5)")
    assert "(default: $MNIST_DATA, else ./data" in blocks["--data-dir"]


def top_of_changelog() -> str:
    match = re.search(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert match, "CHANGELOG.md has no '## [X.Y.Z]' entry"
    return match.group(1)


def pyproject_version() -> str:
    return re.search(r'^version = "([^"]+)"$', PYPROJECT, re.M).group(1)


def test_changelog_names_the_version_of_pyproject():
    assert top_of_changelog() == pyproject_version()


def installed_from() -> str:
    """Where the mnist-mlp whose metadata Python reads was installed from: a URL (recorded by
    pip), else the folder that holds the metadata (``mnist_mlp.egg-info`` in a checkout)."""
    distribution = importlib.metadata.distribution("mnist-mlp")
    url = json.loads(distribution.read_text("direct_url.json") or "{}").get("url")
    return url or Path(distribution.locate_file("")).resolve().as_uri()


@pytest.mark.parametrize("command", [*CONSOLE, *SCRIPTS])
def test_version_is_the_installed_one(command):
    code = console(command) if command in CONSOLE else script(command)
    done = run(code, "--version")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == f"mnist-mlp {mnist_mlp.__version__}\n"


def test_the_installed_version_is_pyprojects():
    if installed_from() != ROOT.as_uri():
        pytest.skip(f"the mnist-mlp installed here is {installed_from()}, not this checkout")
    assert mnist_mlp.__version__ == pyproject_version(), \
        "the installed metadata is older than pyproject.toml: run pip install -e ."


def test_install_sizes_count_each_file_once_and_install_as_readme_says(tmp_path):
    spec = importlib.util.spec_from_file_location("install_size",
                                                  ROOT / "scripts" / "install_size.py")
    install_size = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install_size)
    (tmp_path / "a").write_bytes(b"x" * 100_000)
    os.link(tmp_path / "a", tmp_path / "b")  # a hard link: the same blocks, counted once
    blocks = sum(os.lstat(p).st_blocks for p in (tmp_path, tmp_path / "a")) * 512
    assert install_size.disk_usage(tmp_path) == blocks
    lines = install_size.installs(install_size.parser().parse_args([]))
    readme = (ROOT / "README.md").read_text()
    for commands in lines.values():
        assert " && ".join(f".venv/bin/pip install {' '.join(c)}" for c in commands) in readme


# ---------------------------------------------------------------------------------------------
# Commands printed for the user to run next


@pytest.fixture
def venv(tmp_path, monkeypatch):
    """A virtual environment ``project/.venv`` running this process, not activated (its bin
    folder not on PATH), the current folder ``project``."""
    project = tmp_path / "project"
    (project / ".venv" / "bin").mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(project / ".venv"))
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/local/bin", "/usr/bin"]))
    monkeypatch.chdir(project)
    return project / ".venv"


def test_a_venv_not_activated_is_named_by_its_path(venv, monkeypatch):
    assert common.program("tensorboard") == ".venv/bin/tensorboard"
    assert common.command("mnist-mlp-evaluate", "runs/my run") == (
        ".venv/bin/mnist-mlp-evaluate 'runs/my run'")
    monkeypatch.chdir(venv / "bin")  # inside the bin folder itself: still a path
    assert common.program("tensorboard") == "./tensorboard"
    (venv.parent.parent / "elsewhere").mkdir()
    monkeypatch.chdir(venv.parent.parent / "elsewhere")  # not below: the absolute path
    assert common.program("tensorboard") == str(venv / "bin" / "tensorboard")


def test_a_venv_in_a_folder_with_a_space_is_quoted(tmp_path, venv, monkeypatch):
    spaced = tmp_path / "my envs" / "ml"
    monkeypatch.setattr(sys, "prefix", str(spaced))
    assert common.command("tensorboard", "--logdir", "runs") == (
        f"'{spaced}/bin/tensorboard' --logdir runs")


def test_an_activated_venv_or_none_is_named_by_the_bare_name(venv, monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join([str(venv / "bin"), "/usr/bin"]))
    assert common.command("tensorboard", "--logdir", "runs") == "tensorboard --logdir runs"
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.setattr(sys, "base_prefix", sys.prefix)  # no virtual environment
    assert common.program("mnist-mlp-merge") == "mnist-mlp-merge"


def test_the_python_of_a_venv_is_its_own(venv, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(venv / "bin" / "python3"))
    assert common.python() == ".venv/bin/python3"
    monkeypatch.setattr(sys, "base_prefix", sys.prefix)
    assert common.python() == "python3"
