"""Checkpoints: plain-data content, atomic last.pt/best.pt, exact resume, Ctrl-C, TensorBoard."""

import shlex
from dataclasses import replace

import pytest
import torch
from helpers import history
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mnist_mlp import TrainConfig, train
from mnist_mlp.cli.train import main as train_main
from mnist_mlp.training import EpochRecord, TrainingInterrupted, resume_config
from mnist_mlp.training import checkpoints as checkpoint_module
from mnist_mlp.training.checkpoints import (
    BEST,
    LAST,
    CheckpointError,
    build_model,
    is_new_best,
    load_checkpoint,
)


@pytest.fixture(scope="module")
def straight(tiny_data, tmp_path_factory):
    """An uninterrupted 4-epoch run, to compare resumed runs with."""
    return train(TrainConfig(hidden_size=16, epochs=4, lr=0.5, batch_size=10, device="cpu",
                             data_dir=str(tiny_data), validation_size=50,
                             log_dir=str(tmp_path_factory.mktemp("straight")), log_every=5))


def without_seconds(history):
    """Records as plain data without the time they took (which differs from run to run)."""
    records = [r.to_dict() if isinstance(r, EpochRecord) else r for r in history]
    return [{k: v for k, v in record.items() if k != "seconds"} for record in records]


def assert_same_weights(a, b):
    a, b = a.state_dict(), b.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_checkpoint_is_plain_data_loadable_with_weights_only(straight):
    data = torch.load(straight.run_dir / LAST, weights_only=True)
    assert data["format"] == "mnist-mlp checkpoint" and data["epoch"] == 4
    assert data["optimizer"] == {"lr": 0.5}
    assert data["config"]["hidden_size"] == 16 and data["config"]["epochs"] == 4
    assert data["model"]["config"] == straight.model.architecture()
    assert set(data["model"]["state"]) == set(straight.model.state_dict())
    assert isinstance(data["rng"]["torch"], torch.Tensor)
    assert isinstance(data["rng"]["shuffle"], torch.Tensor)
    assert without_seconds(data["history"]) == without_seconds(straight.history)
    assert_same_weights(build_model(load_checkpoint(straight.run_dir / LAST)), straight.model)


def test_best_checkpoint_follows_validation_accuracy(straight):
    best = load_checkpoint(straight.run_dir / BEST)
    accuracies = [r.validation_accuracy for r in straight.history]
    first_best = accuracies.index(max(accuracies)) + 1
    assert best.epoch == first_best
    assert load_checkpoint(straight.run_dir).path.name == BEST  # a folder: best.pt first
    assert [p.name for p in straight.run_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_is_new_best():
    assert is_new_best(history([0.9], [0.5]))
    assert not is_new_best(history([0.9, 0.9], [0.5, 0.5]))
    assert is_new_best(history([0.9, 0.9], [0.5, 0.6]))
    assert not is_new_best(history([0.9]))


def test_no_best_checkpoint_without_validation(config):
    result = train(replace(config, epochs=1, validation_size=0))
    assert (result.run_dir / LAST).exists() and not (result.run_dir / BEST).exists()


def test_resume_gives_exactly_the_uninterrupted_weights_and_history(config, straight):
    first = train(replace(config, epochs=2))
    resumed = train(resume_config(first.run_dir, epochs=4), resume=first.run_dir)
    assert resumed.run_dir == first.run_dir
    assert_same_weights(resumed.model, straight.model)
    assert without_seconds(resumed.history) == without_seconds(straight.history)
    assert load_checkpoint(first.run_dir / LAST).epoch == 4
    events = EventAccumulator(str(first.run_dir))
    events.Reload()
    assert [e.step for e in events.Scalars("accuracy/test")] == [1, 2, 3, 4]


def test_resume_refuses_a_finished_run_or_changed_settings(config):
    first = train(replace(config, epochs=1))
    with pytest.raises(CheckpointError, match="--epochs above 1"):
        train(replace(config, epochs=1), resume=first.run_dir)
    with pytest.raises(CheckpointError, match=r"lr 0.5 \(asked 0.1\)"):
        train(replace(config, epochs=2, lr=0.1), resume=first.run_dir)
    with pytest.raises(CheckpointError, match=r"784-16-10.*784-8-10"):
        train(replace(config, epochs=2, hidden_size=8), resume=first.run_dir)


def ctrl_c_at(at: int):
    """A hook for ``on_sgd_step``: Ctrl-C at step ``at``."""

    def hook(step: int, lr: float) -> float:
        if step == at:
            raise KeyboardInterrupt
        return lr

    return hook


def test_interrupt_keeps_the_last_completed_epoch(config, straight, monkeypatch, on_sgd_step):
    on_sgd_step(ctrl_c_at(2 * 25 + 7))  # in epoch 3: 25 mini-batches per epoch
    with pytest.raises(TrainingInterrupted) as stop:
        train(config)
    monkeypatch.undo()
    assert stop.value.epoch == 2 and stop.value.checkpoint.name == LAST
    assert load_checkpoint(stop.value.checkpoint).epoch == 2
    resumed = train(config, resume=stop.value.checkpoint)
    assert_same_weights(resumed.model, straight.model)


def test_cli_ctrl_c_exits_130_with_the_resume_command(tiny_data, tmp_path, capsys,
                                                      monkeypatch, straight, on_sgd_step):
    on_sgd_step(ctrl_c_at(25 + 3))
    argv = ["--hidden", "16", "--epochs", "4", "--device", "cpu", "--data-dir", str(tiny_data),
            "--validation-size", "50", "--log-dir", str(tmp_path / "runs")]
    assert train_main(argv) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "epoch 1 is saved" in err
    command = shlex.split(err.split("resume with: ")[1])
    resume_argv = command[command.index("--resume"):]
    assert len(resume_argv) == 2
    monkeypatch.undo()
    assert train_main(resume_argv) == 0
    out = capsys.readouterr().out
    assert "epoch   2" in out and "epoch   4" in out and "epoch   1" not in out
    resumed = build_model(load_checkpoint(resume_argv[1]))
    assert_same_weights(resumed, straight.model)


def test_cli_resume_can_raise_epochs(tiny_data, tmp_path, capsys):
    argv = ["--hidden", "8", "--epochs", "1", "--device", "cpu", "--data-dir", str(tiny_data),
            "--validation-size", "50", "--log-dir", str(tmp_path / "runs")]
    assert train_main(argv) == 0
    run_dir = next((tmp_path / "runs").iterdir())
    assert train_main(["--resume", str(run_dir), "--epochs", "2"]) == 0
    assert "epoch   2" in capsys.readouterr().out
    assert load_checkpoint(run_dir / LAST).epoch == 2
    assert len(list((tmp_path / "runs").iterdir())) == 1  # the same run folder


def test_tensorboard_images_and_histograms(straight):
    events = EventAccumulator(str(straight.run_dir), size_guidance={"histograms": 0})
    events.Reload()
    tags = events.Tags()
    for tag in ("hidden/weights", "test/confusion_matrix"):
        assert tag in tags["images"]
    for name in ("hidden.weight", "hidden.bias", "output.weight", "output.bias"):
        assert f"weights/{name}" in tags["histograms"]
        assert f"gradients/{name}" in tags["histograms"]
    assert [e.step for e in events.Histograms("weights/hidden.weight")] == [1, 2, 3, 4]


def test_tensorboard_misclassified_digits(config):
    # One epoch at a small learning rate leaves some test digits misclassified.
    result = train(replace(config, epochs=1, lr=0.05))
    assert result.metrics.accuracy < 1.0
    events = EventAccumulator(str(result.run_dir))
    events.Reload()
    assert "test/misclassified" in events.Tags()["images"]


def test_checkpoints_every_few_epochs_keep_last_and_best_right(config, straight, monkeypatch):
    """``checkpoint_every=3`` over 4 epochs: files are written after epochs 3 and 4 only, yet
    best.pt holds the best validation epoch (from memory) and last.pt the last epoch."""
    written = []
    real_save = checkpoint_module.save_checkpoint

    def save(checkpoint, path):
        written.append((checkpoint.epoch, path.name))
        return real_save(checkpoint, path)

    monkeypatch.setattr("mnist_mlp.training.checkpoints.save_checkpoint", save)
    result = train(replace(config, checkpoint_every=3))
    assert {epoch for epoch, _ in written} <= {1, 2, 3, 4}
    assert sorted({epoch for epoch, name in written if name == LAST}) == [3, 4]
    accuracies = [r.validation_accuracy for r in result.history]
    best_epoch = accuracies.index(max(accuracies)) + 1
    assert load_checkpoint(result.run_dir / BEST).epoch == best_epoch
    assert load_checkpoint(result.run_dir / LAST).epoch == 4
    assert_same_weights(build_model(load_checkpoint(result.run_dir / LAST)), straight.model)


def test_ctrl_c_writes_the_epoch_not_yet_due(config, straight, on_sgd_step):
    """With checkpoints due only every 5 epochs, Ctrl-C in epoch 3 still leaves epoch 2's
    checkpoint, from which the run resumes exactly."""
    on_sgd_step(ctrl_c_at(2 * 25 + 7))
    with pytest.raises(TrainingInterrupted) as stop:
        train(replace(config, checkpoint_every=5))
    assert stop.value.epoch == 2 and load_checkpoint(stop.value.checkpoint).epoch == 2
    resumed = train(replace(config, checkpoint_every=5), resume=stop.value.checkpoint)
    assert_same_weights(resumed.model, straight.model)
