"""A sweep resumes as a sweep: interrupted after an epoch, it continues from its manifest, every
network on the engine from its last completed epoch, to exactly the weights and histories of an
uninterrupted sweep (bitwise: the CPU's compiled loop trains each network alone); a network that
had diverged stays diverged; a shard resumes its own networks."""

import json
import os
import shlex
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers import needs_compiler, wreck_in_engine

from mnist_mlp import TrainConfig, train_many
from mnist_mlp.cli.merge import main as merge_main
from mnist_mlp.cli.progress import SweepBar
from mnist_mlp.cli.train import main as train_main
from mnist_mlp.training import TrainingInterrupted, resume_sweep
from mnist_mlp.training.checkpoints import LAST, LOCK, load_checkpoint
from mnist_mlp.training.fast import sweep_state

pytestmark = needs_compiler
GRID = {"lr": (0.5, 1.0), "seed": 0, "seeds": 3}


@pytest.fixture(scope="module")
def config(tiny_data):
    return TrainConfig(hidden_size=8, epochs=3, device="cpu", data_dir=str(tiny_data),
                       validation_size=50, checkpoint_every=5)  # no checkpoint due before 3


def stop_after(epoch: int):
    def on_epoch(done: int, records) -> None:
        if done == epoch:
            raise KeyboardInterrupt

    return on_epoch


def same(a, b) -> bool:
    """Equal bit for bit, NaN where NaN."""
    return torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0)) and torch.equal(a.isnan(), b.isnan())


def without_seconds(history) -> list[str]:
    return [repr({k: v for k, v in r.to_dict().items() if k != "seconds"}) for r in history]


def assert_same_sweep(resumed, straight) -> None:
    assert [(r.config.lr, r.config.seed) for r in resumed] == [
        (r.config.lr, r.config.seed) for r in straight]
    for a, b in zip(resumed, straight, strict=True):
        assert without_seconds(a.history) == without_seconds(b.history)
        for name, value in b.model.state_dict().items():
            assert same(a.model.state_dict()[name], value), (a.config.lr, a.config.seed, name)


def sweep(config, log_dir, **more):
    return train_many(replace(config, log_dir=str(log_dir), **GRID), native=True, manifest=True,
                      **more)


def test_a_sweep_stopped_after_epoch_1_resumes_to_the_uninterrupted_sweep(config, tmp_path,
                                                                          monkeypatch):
    """Stopped after epoch 1 of 3 (checkpoints due only every 5 epochs: the stop writes them),
    with network (η 1, seed 1) diverged in epoch 1: resumed from its manifest, it ends with the
    weights and histories of the uninterrupted sweep, bit for bit, the diverged network
    restored as it was (not trained again from a good epoch), no lock left."""
    wreck_in_engine(monkeypatch, lr=1.0, seed=1)
    with pytest.warns(UserWarning, match="seed 1 diverged"):
        straight = sweep(config, tmp_path / "straight")
        with pytest.raises(TrainingInterrupted) as stop:
            sweep(config, tmp_path / "runs", on_epoch=stop_after(1))
    assert stop.value.saved == 1 and stop.value.sweep.parent == tmp_path / "runs"
    state = sweep_state(stop.value.sweep)
    assert [c.epoch for c in state.checkpoints] == [1] * 6
    assert [c.path.name for c in state.checkpoints].count("diverged.pt") == 1
    resumed = resume_sweep(state)
    assert_same_sweep(resumed, straight)
    for result in resumed:
        wrecked = (result.config.lr, result.config.seed) == (1.0, 1)
        assert load_checkpoint(result.run_dir / ("diverged.pt" if wrecked else LAST)).epoch == 3
        assert not (result.run_dir / LOCK).exists()


def argv(tiny_data, log_dir, *more):
    return ["--engine", "fast", "--seeds", "3", "--lr", "0.5", "1", "--hidden", "8", "--epochs",
            "3", "--device", "cpu", "--data-dir", str(tiny_data), "--validation-size", "50",
            "--log-dir", str(log_dir), "--checkpoint-every", "5", "--quiet", *more]


def sigterm_after(monkeypatch, epoch: int) -> None:
    """SIGTERM, as from a scheduler, once the sweep has printed epoch ``epoch``."""
    real = SweepBar.epoch

    def epoch_then_sigterm(self, done, records):
        real(self, done, records)
        if done == epoch:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(SweepBar, "epoch", epoch_then_sigterm)


def resume_command(err: str) -> list[str]:
    command = shlex.split(err.split("resume the sweep with: ")[1])
    return command[command.index("--resume"):]


def summary_of(out: str) -> str:
    return out[out.index("\nlr 0.5"):out.index("\nTensorBoard")]


def weights(log_dir: Path) -> dict:
    runs = [p for p in log_dir.iterdir() if p.is_dir()]
    return {(c.lr, c.config["seed"]): c.model_state
            for c in (load_checkpoint(run / LAST) for run in runs)}


def test_the_interrupted_sweep_prints_one_command_that_resumes_it(tiny_data, tmp_path, capsys,
                                                                  monkeypatch):
    assert train_main(argv(tiny_data, tmp_path / "straight")) == 0
    straight = summary_of(capsys.readouterr().out)
    sigterm_after(monkeypatch, 1)
    assert train_main(argv(tiny_data, tmp_path / "runs")) == 143
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "keeps its epoch 1" in err
    command = resume_command(err)
    assert len(command) == 2 and Path(command[1]).parent == tmp_path / "runs"
    monkeypatch.undo()
    assert train_main(command) == 0
    out = capsys.readouterr().out
    assert "epoch   2" in out and "epoch   1" not in out
    assert summary_of(out) == straight
    ours, theirs = weights(tmp_path / "runs"), weights(tmp_path / "straight")
    assert ours.keys() == theirs.keys() and len(ours) == 6
    for key, state in theirs.items():
        for name, value in state.items():
            assert torch.equal(ours[key][name], value), (key, name)


def test_a_shard_resumes_its_own_networks_and_merges(tiny_data, tmp_path, capsys, monkeypatch):
    """Shard 1/2 stopped after epoch 1 resumes its own three networks (``--resume LOG_DIR
    --shard 1/2``, as a requeued array task would), writes its shard file, and the merge gives
    the unsharded sweep's summary."""
    assert train_main(argv(tiny_data, tmp_path / "whole")) == 0
    whole = summary_of(capsys.readouterr().out)
    assert train_main(argv(tiny_data, tmp_path / "shards", "--shard", "2/2")) == 0
    sigterm_after(monkeypatch, 1)
    assert train_main(argv(tiny_data, tmp_path / "shards", "--shard", "1/2")) == 143
    assert "shard-1-of-2" in resume_command(capsys.readouterr().err)[1]
    monkeypatch.undo()
    assert train_main(["--resume", str(tmp_path / "shards"), "--shard", "1/2"]) == 0
    assert "shard 1/2 of the sweep: 3 networks" in capsys.readouterr().out
    assert merge_main([str(tmp_path / "shards")]) == 0
    assert summary_of(capsys.readouterr().out) == whole


@pytest.fixture
def stopped(tiny_data, tmp_path, capsys, monkeypatch) -> Path:
    """A sweep stopped after epoch 1: its log folder."""
    sigterm_after(monkeypatch, 1)
    assert train_main(argv(tiny_data, tmp_path / "runs")) == 143
    monkeypatch.undo()
    capsys.readouterr()
    return tmp_path / "runs"


def damaged(change):
    def damage(log_dir: Path) -> None:
        (manifest,) = log_dir.glob("sweep-*.json")
        data = json.loads(manifest.read_text())
        change(data)
        manifest.write_text(json.dumps(data))

    return damage


def replaced(make):
    def damage(log_dir: Path) -> None:
        (manifest,) = log_dir.glob("sweep-*.json")
        manifest.unlink()
        make(manifest)

    return damage


def second(log_dir: Path) -> None:
    (manifest,) = log_dir.glob("sweep-*.json")
    shutil.copy(manifest, manifest.with_name("sweep-20990101-000000.json"))


MISTAKES = {
    "another lr": (["--lr", "0.1"], None, "its own learning rates"),
    "the reference engine": (["--engine", "reference"], None, "on the fast engine"),
    "another shard": (["--shard", "2/2"], None, "holds no manifest of shard 2/2"),
    "two sweeps in the folder": ([], second, "holds 2 sweeps"),
    "junk": ([], replaced(lambda path: path.write_bytes(os.urandom(300))), "not a sweep"),
    "a FIFO": ([], replaced(os.mkfifo), "FIFO"),
    "a run folder outside": ([], damaged(lambda data: data["networks"][0].update(
        run_dir="../../etc")), "the name of a run folder beside the manifest"),
    "a network not its own": ([], damaged(lambda data: data["networks"][0].update(seed=7)),
                              "is not the checkpoint of the network with lr 0.5 and seed 7"),
    "no networks": ([], damaged(lambda data: data.update(networks=[])), "networks are missing"),
    "an η no float holds": ([], damaged(lambda data: data["networks"][0].update(lr=10**400)),
                            "is not a learning rate, a seed and the name of a run folder"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES), ids=list(MISTAKES))
def test_a_wrong_sweep_resume_is_one_line(stopped, capsys, mistake):
    more, damage, words = MISTAKES[mistake]
    if damage is not None:
        damage(stopped)
    assert train_main(["--resume", str(stopped), *more]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and words in err, err
