"""A run folder is its run's own: ``--resume`` of a checkpoint kept elsewhere continues into a
new run folder and writes nothing beside it; one writer at a time per run folder (its lock),
a stale lock taken over, the lock gone however the run ends."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnist_mlp.cli.train import main as train_main
from mnist_mlp.training import checkpoints as checkpoint_module
from mnist_mlp.training.checkpoints import BEST, LAST, LOCK, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def argv(tiny_data, log_dir, epochs=2, *more):
    return ["--hidden", "16", "--epochs", str(epochs), "--device", "cpu", "--data-dir",
            str(tiny_data), "--validation-size", "50", "--log-dir", str(log_dir), *more]


def only_run(log_dir: Path) -> Path:
    (run_dir,) = [p for p in log_dir.iterdir() if p.is_dir()]
    return run_dir


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_checkpoint_kept_elsewhere_continues_in_a_new_run_folder(tiny_data, tmp_path, capsys):
    """``cp RUN/last.pt RUN/best.pt models/`` beside a config.json of something else, then
    ``--resume models/last.pt``: every file in models/ is left byte for byte; the run goes on in
    a new run folder under --log-dir, said once, to exactly the weights of an uninterrupted
    run."""
    assert train_main(argv(tiny_data, tmp_path / "runs", 2)) == 0
    run_dir = only_run(tmp_path / "runs")
    models = tmp_path / "models"
    models.mkdir()
    for name in (LAST, BEST):
        shutil.copy(run_dir / name, models / name)
    (models / "config.json").write_text('{"my": "own notes"}\n')
    before = files_of(models)
    capsys.readouterr()
    assert train_main(["--resume", str(models / LAST), "--epochs", "4", "--log-dir",
                       str(tmp_path / "elsewhere")]) == 0
    out, err = capsys.readouterr()
    assert files_of(models) == before
    new = only_run(tmp_path / "elsewhere")
    assert err.count("\n") == 1 and f"continues in a new run folder, {new}" in err
    assert f"in {new}" in out and "epoch   3" in out and "epoch   1" not in out
    assert load_checkpoint(new / LAST).epoch == 4
    assert train_main(argv(tiny_data, tmp_path / "straight", 4)) == 0
    straight = load_checkpoint(only_run(tmp_path / "straight") / LAST)
    resumed = load_checkpoint(new / LAST)
    for name, value in straight.model_state.items():
        assert torch.equal(resumed.model_state[name], value), name


def test_a_run_folder_of_its_own_is_resumed_in_place(tiny_data, tmp_path, capsys):
    assert train_main(argv(tiny_data, tmp_path / "runs", 1)) == 0
    run_dir = only_run(tmp_path / "runs")
    assert train_main(["--resume", str(run_dir / BEST), "--epochs", "2"]) == 0
    assert capsys.readouterr().err == ""
    assert only_run(tmp_path / "runs") == run_dir and load_checkpoint(run_dir / LAST).epoch == 2
    assert not (run_dir / LOCK).exists()


def test_a_run_folder_of_an_older_version_is_resumed_in_place(tiny_data, tmp_path, capsys):
    """A run written before a setting existed (``seeds``: neither its config.json nor its
    checkpoint name it) is still its own run's folder: resumed in place, said nothing."""
    assert train_main(argv(tiny_data, tmp_path / "runs", 1)) == 0
    run_dir = only_run(tmp_path / "runs")
    written = json.loads((run_dir / "config.json").read_text())
    del written["seeds"]
    (run_dir / "config.json").write_text(json.dumps(written))
    data = torch.load(run_dir / LAST, weights_only=True)
    del data["config"]["seeds"]
    torch.save(data, run_dir / LAST)
    capsys.readouterr()
    assert train_main(["--resume", str(run_dir), "--epochs", "2"]) == 0
    assert capsys.readouterr().err == ""
    assert only_run(tmp_path / "runs") == run_dir and load_checkpoint(run_dir / LAST).epoch == 2


HOLDER = """
import sys
from mnist_mlp.cli.train import main
from mnist_mlp.training import reference
real_step = reference.sgd_step
def held_step(*args):
    if not held_step.done:  # the run folder is locked now: hold it until told
        held_step.done = True
        print("holding", flush=True)
        sys.stdin.read()
    return real_step(*args)
held_step.done = False
reference.sgd_step = held_step
sys.exit(main(sys.argv[1:]))
"""


def test_a_second_writer_of_a_run_folder_stops_in_one_line(tiny_data, tmp_path, capsys):
    """A resume while another resume of the same run folder is training (a requeued job, a
    line pasted twice): the second stops at once, in one line naming the first; the first
    goes on to its end, and last.pt ends at its last epoch."""
    assert train_main(argv(tiny_data, tmp_path / "runs", 1)) == 0
    run_dir = only_run(tmp_path / "runs")
    first = subprocess.Popen([sys.executable, "-c", HOLDER, "--resume", str(run_dir),
                              "--epochs", "3", "--quiet"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    try:
        assert first.stdout.readline().startswith("training ")  # the run's first line
        assert first.stdout.readline() == "holding\n"
        capsys.readouterr()
        assert train_main(["--resume", str(run_dir), "--epochs", "2"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"{run_dir} is being written by process {first.pid}" in err
    finally:
        _, errors = first.communicate("", timeout=300)
    assert first.returncode == 0, errors
    assert load_checkpoint(run_dir / LAST).epoch == 3 and not (run_dir / LOCK).exists()


def dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def lock(run_dir: Path, pid: int, host: str | None = None) -> None:
    (run_dir / LOCK).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                            "since": "2026-11-26T00:00:00+00:00"}))


def test_a_stale_lock_is_taken_over_said_once(tiny_data, tmp_path, capsys):
    """The lock of a run killed outright (SIGKILL, a lost node) on this host: its process is
    gone, so the next resume takes it over, says so in one line, and removes it at its end."""
    assert train_main(argv(tiny_data, tmp_path / "runs", 1)) == 0
    run_dir = only_run(tmp_path / "runs")
    pid = dead_pid()
    lock(run_dir, pid)
    capsys.readouterr()
    assert train_main(["--resume", str(run_dir), "--epochs", "2"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"took over the lock of {run_dir} from process {pid} on" in err and "gone" in err
    assert load_checkpoint(run_dir / LAST).epoch == 2 and not (run_dir / LOCK).exists()


@pytest.mark.parametrize("holder", ["alive here", "another host", "unreadable"])
def test_a_lock_that_cannot_be_taken_is_one_line(tiny_data, tmp_path, capsys, holder):
    """A lock of a live process (here: this one), of a process on another host (which cannot
    be checked from here) or that cannot be read is never taken: one line saying how to remove
    it, nothing written."""
    assert train_main(argv(tiny_data, tmp_path / "runs", 1)) == 0
    run_dir = only_run(tmp_path / "runs")
    if holder == "unreadable":
        (run_dir / LOCK).write_bytes(b"\x00\xff")
    else:
        lock(run_dir, os.getpid() if holder == "alive here" else dead_pid(),
             None if holder == "alive here" else "elsewhere.example")
    before = files_of(run_dir)
    capsys.readouterr()
    assert train_main(["--resume", str(run_dir), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and f"remove {run_dir / LOCK}" in err
    assert files_of(run_dir) == before


def interrupted(monkeypatch, on_sgd_step):
    on_sgd_step(lambda step, lr: os.kill(os.getpid(), signal.SIGTERM) or lr if step == 30
                else lr)


def diverged(monkeypatch, on_sgd_step):
    on_sgd_step(lambda step, lr: float("nan") if step > 28 else lr)


def disk_full(monkeypatch, on_sgd_step):
    real_save, count = torch.save, [0]

    def save(data, file):
        count[0] += 1
        if count[0] >= 3:
            raise OSError(28, "No space left on device")
        real_save(data, file)

    monkeypatch.setattr(checkpoint_module.torch, "save", save)


def failed(monkeypatch, on_sgd_step):
    def bug(step, lr):
        if step == 30:
            raise RuntimeError("a bug")
        return lr

    on_sgd_step(bug)


@pytest.mark.parametrize("end", [interrupted, diverged, disk_full, failed],
                         ids=["SIGTERM", "divergence", "full disk", "a bug"])
def test_the_lock_is_gone_however_the_run_ends(tiny_data, tmp_path, capsys, monkeypatch,
                                               on_sgd_step, end):
    end(monkeypatch, on_sgd_step)
    if end is failed:
        with pytest.raises(RuntimeError, match="a bug"):
            train_main(argv(tiny_data, tmp_path / "runs", 3))
    else:
        assert train_main(argv(tiny_data, tmp_path / "runs", 3)) in (2, 143)
    assert not (only_run(tmp_path / "runs") / LOCK).exists()
