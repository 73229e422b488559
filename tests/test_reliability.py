"""Nothing lost when the world intervenes: SIGTERM and Ctrl-C (at any moment, during a
checkpoint write, while starting, after the last epoch), a reader that goes away, a full disk."""

import errno
import importlib
import io
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_mlp.cli.evaluate import main as evaluate_main
from mnist_mlp.cli.train import main as train_main
from mnist_mlp.training import checkpoints as checkpoint_module
from mnist_mlp.training import tensorboard as runs_module
from mnist_mlp.training.checkpoints import BEST, LAST, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
STEPS = 25  # mini-batches per epoch: 250 training images in batches of 10


def argv(tiny_data, log_dir, epochs=3, *more):
    return ["--hidden", "16", "--epochs", str(epochs), "--device", "cpu", "--data-dir",
            str(tiny_data), "--validation-size", "50", "--log-dir", str(log_dir), *more]


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def sigterm_at(at: int):
    """A hook for ``on_sgd_step``: the process gets SIGTERM at step ``at``, as from a scheduler."""

    def hook(step: int, lr: float) -> float:
        if step == at:
            os.kill(os.getpid(), signal.SIGTERM)
        return lr

    return hook


def only_run(log_dir: Path) -> Path:
    (run_dir,) = log_dir.iterdir()
    return run_dir


# --- SIGTERM is Ctrl-C ------------------------------------------------------------------------


def test_sigterm_keeps_the_last_epoch_and_says_how_to_resume(tiny_data, tmp_path, capsys,
                                                            on_sgd_step, monkeypatch):
    handler = signal.getsignal(signal.SIGTERM)
    on_sgd_step(sigterm_at(STEPS + 3))  # in epoch 2
    assert train_main(argv(tiny_data, tmp_path / "runs")) == 143
    err = one_line(capsys)
    assert "epoch 1 is saved" in err and "resume with:" in err
    run_dir = only_run(tmp_path / "runs")
    assert load_checkpoint(run_dir / LAST).epoch == 1
    monkeypatch.undo()
    resume = shlex.split(err.split("resume with: ")[1])
    assert train_main(resume[resume.index("--resume"):]) == 0
    assert load_checkpoint(run_dir / LAST).epoch == 3
    assert signal.getsignal(signal.SIGTERM) is handler  # put back as it was


def signal_at(at: int, signum: int):
    """A hook for ``on_sgd_step``: the process gets ``signum`` at step ``at``."""

    def hook(step: int, lr: float) -> float:
        if step == at:
            os.kill(os.getpid(), signum)
        return lr

    return hook


@pytest.mark.parametrize("every", [1, 3])
def test_sighup_is_sigterm_and_keeps_the_last_epoch(tiny_data, tmp_path, capsys, on_sgd_step,
                                                    every):
    """A closed terminal (SIGHUP) in epoch 2: epoch 1 saved — also with --checkpoint-every 3,
    where epoch 1 was not due yet — the resume line, exit status 129."""
    handler = signal.getsignal(signal.SIGHUP)
    on_sgd_step(signal_at(STEPS + 3, signal.SIGHUP))
    assert train_main(argv(tiny_data, tmp_path / "runs", 4, "--checkpoint-every",
                           str(every))) == 129
    err = one_line(capsys)
    run_dir = only_run(tmp_path / "runs")
    assert f"epoch 1 is saved in {run_dir / LAST}" in err and "resume with:" in err
    assert load_checkpoint(run_dir / LAST).epoch == 1
    assert signal.getsignal(signal.SIGHUP) is handler


def test_a_sighup_ignored_from_the_start_stays_ignored(tiny_data, tmp_path, capsys,
                                                       on_sgd_step):
    """Under ``nohup`` the terminal's SIGHUP is ignored: the run goes on to its end."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        on_sgd_step(signal_at(STEPS + 3, signal.SIGHUP))
        assert train_main(argv(tiny_data, tmp_path / "runs", 2)) == 0
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert load_checkpoint(only_run(tmp_path / "runs") / LAST).epoch == 2


def test_sighup_to_a_training_process_after_epoch_1(tiny_data, tmp_path):
    """A real process and a real SIGHUP once epoch 1 is printed, with --checkpoint-every 3: the
    epoch the message names is in last.pt, exit status 129."""
    command = [sys.executable, str(ROOT / "scripts" / "train.py"),
               *argv(tiny_data, tmp_path / "runs", 200, "--checkpoint-every", "3")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=tmp_path, env=os.environ | {"OMP_NUM_THREADS": "1"}) as process:
        assert process.stdout.readline().startswith("training ")  # the run's first line
        assert process.stdout.readline().startswith("epoch   1")
        process.send_signal(signal.SIGHUP)
        err = process.communicate(timeout=120)[1]
    assert process.returncode == 129 and "Traceback" not in err, err
    saved = int(err.split("interrupted: epoch ")[1].split()[0])
    assert 1 <= saved < 200
    assert load_checkpoint(only_run(tmp_path / "runs") / LAST).epoch == saved


def test_a_signal_during_a_checkpoint_write_waits_for_it(tiny_data, tmp_path, capsys,
                                                        monkeypatch):
    """SIGTERM while last.pt and best.pt are being written: both are written whole, then the
    command stops, naming that epoch; no temporary file is left."""
    real_save, saves = torch.save, []

    def save_and_get_sigterm(data, file):
        saves.append(data["epoch"])
        if len(saves) == 3:  # epoch 2's first file: its best.pt (validation improves early)
            os.kill(os.getpid(), signal.SIGTERM)
        real_save(data, file)

    monkeypatch.setattr(checkpoint_module.torch, "save", save_and_get_sigterm)
    assert train_main(argv(tiny_data, tmp_path / "runs")) == 143
    err = one_line(capsys)
    run_dir = only_run(tmp_path / "runs")
    assert f"epoch 2 is saved in {run_dir / LAST}" in err
    assert load_checkpoint(run_dir / LAST).epoch == 2
    assert [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_ctrl_c_after_the_last_epoch_offers_no_resume_that_would_fail(tiny_data, tmp_path,
                                                                      capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs_module.RunLog, "finish", interrupted)  # the run's very end
    assert train_main(argv(tiny_data, tmp_path / "runs", 2)) == 130
    err = one_line(capsys)
    assert "the run is complete" in err and "--resume" not in err
    assert load_checkpoint(only_run(tmp_path / "runs") / LAST).epoch == 2


def test_ctrl_c_while_loading_the_data_is_one_line(tiny_data, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("mnist_mlp.training.driver.load_mnist", interrupted)
    assert train_main(argv(tiny_data, tmp_path / "runs")) == 130
    assert "before the first epoch" in one_line(capsys)
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_while_torch_is_still_loading_is_one_line(tmp_path):
    """Ctrl-C arriving while ``import torch`` runs: status 130, one line, no traceback."""
    program = ("import sys\n"
               "class CtrlC:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name == 'torch':\n"
               "            raise KeyboardInterrupt\n"
               "sys.meta_path.insert(0, CtrlC())\n"
               f"sys.argv = ['{ROOT / 'scripts' / 'train.py'}', '--epochs', '1']\n"
               f"exec(open('{ROOT / 'scripts' / 'train.py'}').read())\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=tmp_path, check=False)
    assert done.returncode == 130 and done.stderr == "interrupted\n"


# --- commands printed for the user to run -----------------------------------------------------


def printed_command(out: str, start: str) -> list[str]:
    """The words of the command in ``out`` that begins with ``start`` and ends the line (or at
    a closing parenthesis), as a shell would split them."""
    line = next(line for line in out.splitlines() if start in line)
    return shlex.split(line[line.index(start):].removesuffix(")"))


def test_printed_commands_are_shell_quoted(tiny_data, tmp_path, capsys, on_sgd_step,
                                           monkeypatch):
    """A folder with a space and a quote in its name: every command printed for the user to run
    next — tensorboard, evaluate, the resume line, merge — names it as one word."""
    log_dir = tmp_path / "my runs" / "Bob's"
    assert train_main(argv(tiny_data, log_dir, 1)) == 0
    out = capsys.readouterr().out
    run_dir = only_run(log_dir)
    assert printed_command(out, "tensorboard --logdir") == ["tensorboard", "--logdir",
                                                            str(log_dir)]
    assert printed_command(out, "mnist-mlp-evaluate") == ["mnist-mlp-evaluate", str(run_dir)]
    on_sgd_step(sigterm_at(STEPS + 3))
    assert train_main(argv(tiny_data, log_dir, 3)) == 143
    resume = printed_command(capsys.readouterr().err, "--resume")
    assert Path(resume[1]).name == LAST and Path(resume[1]).parent.parent == log_dir
    monkeypatch.undo()
    assert train_main(argv(tiny_data, log_dir, 1, "--engine", "fast", "--seeds", "2",
                           "--shard", "1/2")) == 0
    assert printed_command(capsys.readouterr().out, "mnist-mlp-merge") == [
        "mnist-mlp-merge", str(log_dir)]


def test_the_checkpoints_line_names_real_folders_and_epochs(tiny_data, tmp_path, capsys):
    """After one network, the line names the epochs of last.pt and best.pt as saved; after a
    sweep, a run folder of its own (no placeholder) that the evaluate command reads."""
    assert train_main(argv(tiny_data, tmp_path / "one", 3)) == 0
    line = next(line for line in capsys.readouterr().out.splitlines()
                if line.startswith("checkpoints"))
    run_dir = only_run(tmp_path / "one")
    last, best = (load_checkpoint(run_dir / name).epoch for name in (LAST, BEST))
    assert f"{LAST} (epoch {last}) and {BEST} (epoch {best}," in line and last == 3
    assert train_main(argv(tiny_data, tmp_path / "sweep", 1, "--engine", "fast", "--seeds",
                           "2")) == 0
    out = capsys.readouterr().out
    assert "<" not in out.split("TensorBoard logs in", 1)[1]
    words = printed_command(out, "mnist-mlp-evaluate")
    assert (Path(words[1]) / LAST).is_file() and Path(words[1]).parent == tmp_path / "sweep"
    assert "each of the 2 run folders" in out


def test_a_printed_command_works_when_pasted_outside_the_venv(tiny_data, tmp_path, capsys,
                                                              monkeypatch):
    """Run from a virtual environment that is not activated (its bin folder off PATH), training
    prints the evaluate command with the environment's path, and that command, pasted into a
    shell with that PATH, evaluates the run."""
    scripts = Path(sys.prefix, "bin")
    if sys.prefix == sys.base_prefix or not (scripts / "mnist-mlp-evaluate").exists():
        pytest.skip("not run from a virtual environment with the commands installed")
    monkeypatch.setenv("PATH", os.pathsep.join(
        folder for folder in os.environ["PATH"].split(os.pathsep)
        if folder and not (os.path.isdir(folder) and os.path.samefile(folder, scripts))))
    assert train_main(argv(tiny_data, tmp_path / "runs", 1)) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "mnist-mlp-eval" in line)
    pasted = line.split(" with: ", 1)[1]
    assert shlex.split(pasted)[0] != "mnist-mlp-evaluate"
    done = subprocess.run(["bash", "-c", pasted], capture_output=True, text=True, check=False,
                          env=os.environ | {"MNIST_DATA": str(tiny_data), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert "accuracy:" in done.stdout


# --- a reader that goes away ------------------------------------------------------------------


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=cwd,
                          check=False, env=os.environ | {"OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("output", ["| head -1", ">&-", ">/dev/full", ">/dev/full 2>&1"])
def test_training_outlives_a_closed_output(tiny_data, tmp_path, output):
    """``train … | head -1``, a closed stdout, or a full disk under stdout (and stderr): every
    epoch is still trained and saved, status 0."""
    command = shlex.join([sys.executable, str(ROOT / "scripts" / "train.py"),
                          *argv(tiny_data, tmp_path / "runs", 3)])
    done = shell(f"set -o pipefail; {command} {output}", tmp_path)
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert done.returncode == 0
    assert load_checkpoint(only_run(tmp_path / "runs") / LAST).epoch == 3
    if output == "| head -1":
        assert done.stdout.startswith("training 784-") and done.stdout.count("\n") == 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_result_lost_to_a_full_disk_is_an_error_not_a_silent_success(tiny_data, tmp_path):
    """evaluate's output is its result: on a full disk, one line and status 2 (training's
    results are in its run folder, so it goes on: the test above). A reader gone is no loss."""
    assert train_main(argv(tiny_data, tmp_path / "runs", 1)) == 0
    evaluate = shlex.join([sys.executable, str(ROOT / "scripts" / "evaluate.py"),
                           str(only_run(tmp_path / "runs")), "--json", "--data-dir",
                           str(tiny_data)])
    done = shell(f"{evaluate} > /dev/full", tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: the result could not be written (No space left")
    done = shell(f"set -o pipefail; {evaluate} | head -1", tmp_path)
    assert done.returncode == 0 and done.stdout == "{\n" and done.stderr == ""
    from mnist_mlp.cli.common import RESULTS  # named by module: each one a wrapped command

    assert all(importlib.import_module(name).main.__wrapped__ for name in RESULTS)


def test_training_outlives_a_hung_up_terminal(tiny_data, tmp_path):
    """stdout on a terminal that went away (a pty whose other end is closed: every write fails
    with EIO, as after a dropped ssh session with SIGHUP ignored): the run ends, saved, status 0."""
    import pty

    leader, follower = pty.openpty()
    command = [sys.executable, str(ROOT / "scripts" / "train.py"),
               *argv(tiny_data, tmp_path / "runs", 3)]
    with subprocess.Popen(command, stdout=follower, stderr=subprocess.PIPE, text=True,
                          cwd=tmp_path, env=os.environ | {"OMP_NUM_THREADS": "1"}) as process:
        os.close(follower)
        os.close(leader)  # the terminal is gone before the first epoch line
        err = process.communicate(timeout=300)[1]
    assert process.returncode == 0 and "Traceback" not in err, err
    assert load_checkpoint(only_run(tmp_path / "runs") / LAST).epoch == 3


class HungUpStream:
    """A stream whose every write fails as on a terminal that hung up (EIO)."""

    encoding = "utf-8"

    def write(self, text):
        raise OSError(errno.EIO, "Input/output error")

    def flush(self):
        raise OSError(errno.EIO, "Input/output error")

    def fileno(self):
        raise OSError("no descriptor")

    def isatty(self):
        return True


def test_training_outlives_outputs_that_fail_with_eio(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdout", HungUpStream())
    monkeypatch.setattr(sys, "stderr", HungUpStream())
    assert train_main(argv(tiny_data, tmp_path / "runs", 2)) == 0
    assert load_checkpoint(only_run(tmp_path / "runs") / LAST).epoch == 2


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_evaluate_and_predict_outlive_a_closed_output(tiny_data, tmp_path, command, capsys):
    run = tmp_path / "runs"
    assert train_main(argv(tiny_data, run, 1)) == 0
    digit = np.full((40, 30), 255, dtype=np.uint8)
    digit[5:35, 12:18] = 0  # a "1", dark on white
    Image.fromarray(digit).save(tmp_path / "one.png")
    what = ["--data-dir", str(tiny_data)] if command == "evaluate" else [str(tmp_path / "one.png")]
    script = str(ROOT / "scripts" / f"{command}.py")
    done = shell(f"set -o pipefail; "
                 f"{shlex.join([sys.executable, script, str(only_run(run)), *what])} | head -1",
                 tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.count("\n") == 1


def test_evaluate_with_a_closed_stdout_in_process(tiny_data, tmp_path, capsys, monkeypatch):
    """A stdout closed under the command (a pager that quit): nothing raised, status 0."""
    run = tmp_path / "runs"
    assert train_main(argv(tiny_data, run, 1)) == 0
    capsys.readouterr()

    class Gone:
        def write(self, text):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        def fileno(self):
            raise OSError("no descriptor")

        def isatty(self):
            return False

    monkeypatch.setattr(sys, "stdout", Gone())
    assert evaluate_main([str(only_run(run)), "--data-dir", str(tiny_data)]) == 0


# --- an odd locale ----------------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "spread"), [("ascii", "+/-"), ("latin-1", "±")])
def test_a_sweep_prints_in_any_locale(tiny_data, tmp_path, encoding, spread):
    """stdout and stderr that cannot encode ``±`` (LANG=C, an ASCII or Latin-1 stream), files
    read in the locale's ASCII unless told (PYTHONUTF8=0): the sweep runs to its end, its
    summary in what the stream can hold."""
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), "--engine", "fast",
               "--seeds", "2", *argv(tiny_data, tmp_path / "runs", 1)]
    done = subprocess.run(command, capture_output=True, cwd=tmp_path, check=False,
                          env=os.environ | {"PYTHONIOENCODING": encoding, "LC_ALL": "C",
                                            "PYTHONUTF8": "0", "OMP_NUM_THREADS": "1"})
    out, err = done.stdout.decode(encoding), done.stderr.decode(encoding)
    assert done.returncode == 0 and err == "", err
    assert "test accuracy, final epoch" in out and f" {spread} " in out
    help_text = subprocess.run([*command[:2], "--help"], capture_output=True, check=True,
                               env=os.environ | {"PYTHONIOENCODING": encoding}).stdout
    assert f"mean {spread} std" in help_text.decode(encoding)


def test_what_a_stream_cannot_encode_is_written_in_plain_ascii():
    from mnist_mlp.cli.common import MayClose

    for encoding, expected in (("ascii", "eta <= 0.5 +/- 0.1 - x ... ?"),
                               ("latin-1", "eta <= 0.5 ± 0.1 - x ... ?")):
        buffer = io.BytesIO()
        stream = MayClose(io.TextIOWrapper(buffer, encoding=encoding))
        stream.write("η ≤ 0.5 ± 0.1 – x … ☃")
        stream.flush()
        assert buffer.getvalue().decode(encoding) == expected


# --- a full disk ------------------------------------------------------------------------------


FULL = {"OSError": OSError(errno.ENOSPC, "No space left on device"),  # as the file says
        # as torch's zip writer says it, once its writes have failed
        "RuntimeError": RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos "
                                     "27776 vs 27704")}


def disk_fills_at(monkeypatch, at: int, error: str = "OSError") -> None:
    """From the ``at``-th checkpoint file on, writing fails as on a full disk."""
    real_save, count = torch.save, 0

    def save(data, file):
        nonlocal count
        count += 1
        if count >= at:
            file.write(b"half a checkpoint")
            raise FULL[error]
        real_save(data, file)

    monkeypatch.setattr(checkpoint_module.torch, "save", save)


@pytest.mark.parametrize("error", FULL)
def test_a_full_disk_says_what_was_kept_and_leaves_no_partial_file(tiny_data, tmp_path, capsys,
                                                                  monkeypatch, error):
    disk_fills_at(monkeypatch, 3, error)  # epoch 2's files
    assert train_main(argv(tiny_data, tmp_path / "runs")) == 2
    err = one_line(capsys)
    run_dir = only_run(tmp_path / "runs")
    assert ("No space left on device" if error == "OSError" else "is the disk full?") in err
    assert str(run_dir) in err
    assert f"{run_dir} keeps last.pt (epoch 1) and best.pt (epoch 1)" in err and "--resume" in err
    assert sorted(p.name for p in run_dir.iterdir() if p.suffix in (".pt", ".tmp")) == [
        BEST, LAST]
    assert load_checkpoint(run_dir / LAST).epoch == 1


def test_a_run_whose_only_checkpoint_is_best_pt_resumes_from_it(tiny_data, tmp_path, capsys,
                                                                monkeypatch):
    disk_fills_at(monkeypatch, 2)  # epoch 1: best.pt written, then last.pt fails
    assert train_main(argv(tiny_data, tmp_path / "runs")) == 2
    assert "keeps best.pt (epoch 1);" in one_line(capsys)
    run_dir = only_run(tmp_path / "runs")
    assert [p.name for p in run_dir.glob("*.pt")] == [BEST]
    monkeypatch.undo()
    assert train_main(["--resume", str(run_dir)]) == 0
    assert load_checkpoint(run_dir / LAST).epoch == 3


@pytest.mark.parametrize(("outcome", "status", "line"), [
    ("raise UserError('no data here')", 2, "error: no data here"),
    ("raise KeyboardInterrupt", 130, "interrupted"),
    ("return 0", 0, None)])
def test_a_signal_once_the_outcome_is_said_changes_nothing(monkeypatch, capsys, outcome, status,
                                                          line):
    """torchrun stops a rank that has said its last line: SIGTERM arrives on the way out of the
    command, after its outcome. The outcome stands, its one line (if any) alone, no traceback."""
    from contextlib import contextmanager

    from mnist_mlp.cli import common
    from mnist_mlp.errors import UserError

    @contextmanager
    def stopped_on_the_way_out():
        yield
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises Terminated here

    monkeypatch.setattr(common, "outputs_that_may_close", stopped_on_the_way_out)
    namespace = {"UserError": UserError}
    exec(f"def main(argv):\n    {outcome}\n", namespace)
    assert common.one_line_errors(namespace["main"])([]) == status
    err = capsys.readouterr().err
    assert err.splitlines() == ([line] if line else [])
