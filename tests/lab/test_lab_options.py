"""The lab's commands answer ``--help``, ``--version`` and a mistyped option before torch loads
(their parsers live in ``mnist_mlp_lab.commands.options``), run as ``python scripts/X.py``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mnist_mlp
from mnist_mlp_lab.commands import COMMANDS
from mnist_mlp_lab.commands.options import PARSERS

ROOT = Path(__file__).resolve().parents[2]
PROBE = "torch loaded:"


def run(code: str, *argv: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter, this checkout first, ``sys.argv[1:] = argv``; at its exit
    stderr's last line says whether torch was imported."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    probe = (f"import atexit, sys; atexit.register(lambda: print({PROBE!r}, 'torch' in "
             "sys.modules, file=sys.stderr))\n")
    return subprocess.run([sys.executable, "-c", probe + code, *argv], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)


def script(name: str) -> str:
    """Code that runs ``scripts/<name>.py`` as ``python scripts/<name>.py`` does."""
    return (f"import runpy; sys.argv[0] = 'scripts/{name}.py'; "
            f"runpy.run_path('scripts/{name}.py', run_name='__main__')")


def loaded_torch(done: subprocess.CompletedProcess) -> bool:
    return done.stderr.splitlines()[-1] == f"{PROBE} True"


def test_every_command_has_its_parser_and_script():
    assert set(PARSERS) == set(COMMANDS)
    assert all((ROOT / "scripts" / f"{name}.py").is_file() for name in COMMANDS)


def test_the_probe_sees_torch():
    done = run("import torch")
    assert done.returncode == 0 and loaded_torch(done)


@pytest.mark.parametrize("flag", ["--help", "--version"])
@pytest.mark.parametrize("command", COMMANDS)
def test_help_and_version_answer_without_torch(command, flag):
    done = run(script(command), flag)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = "usage: " if flag == "--help" else f"mnist-mlp {mnist_mlp.__version__}\n"
    assert done.stdout.startswith(expected)
    assert not loaded_torch(done), f"scripts/{command}.py {flag} imported torch"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_mistyped_option_is_one_line_before_torch(command):
    done = run(script(command), "--no-such-option")
    assert done.returncode == 2
    errors = done.stderr.splitlines()[:-1]  # the probe's line left out
    assert len(errors) == 1 and errors[0].startswith(f"{command}.py: error: "), errors
    assert not loaded_torch(done)
