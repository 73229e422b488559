"""End to end: SGD on tiny generated IDX files, TensorBoard logs, determinism, the CLI."""

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mnist_mlp import MLP, TrainConfig, train, train_many
from mnist_mlp.cli.tables import data_words, epoch_line, loss_words, start_line
from mnist_mlp.cli.train import main as train_main
from mnist_mlp.engine import Engine
from mnist_mlp.errors import ConfigError
from mnist_mlp.textbook.sgd import sgd_step
from mnist_mlp.training import resolve_device
from mnist_mlp.training.checkpoints import load_checkpoint
from mnist_mlp.training.config import why_device
from mnist_mlp.training.fast import BACKEND_WORDS
from mnist_mlp.training.records import EpochRecord


def test_sgd_step_is_theta_minus_lr_grad():
    torch.manual_seed(0)
    model = MLP(4)
    x, y = torch.rand(10, 784), torch.randint(0, 10, (10,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    from mnist_mlp.textbook.backprop import gradients
    grads = gradients(model, x, y, "log_likelihood")
    from mnist_mlp.textbook.losses import log_likelihood
    sgd_step(model, log_likelihood, x, y, lr=0.3)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[name] - 0.3 * grads[name])


def test_training_learns_and_reports(config):
    result = train(config)
    history = result.history
    assert [r.epoch for r in history] == [1, 2, 3, 4]
    assert history[-1].train_loss < history[0].train_loss
    assert history[-1].test_accuracy > 0.5  # ten classes: chance is 0.1
    for key in ("minibatch_loss", "train_loss", "train_accuracy", "validation_loss",
                "validation_accuracy", "test_loss", "test_accuracy", "seconds"):
        assert getattr(history[-1], key) is not None, key
    assert history[-1].minibatch_loss != history[-1].train_loss  # two different measurements
    assert result.metrics.accuracy == pytest.approx(history[-1].test_accuracy)
    assert int(result.metrics.confusion.sum()) == 100


def test_tensorboard_scalars_and_config(config):
    result = train(config)
    events = EventAccumulator(str(result.run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for tag in ("loss/train", "loss/validation", "loss/test", "accuracy/validation",
                "accuracy/test", "loss/train_running"):
        assert tag in tags
    test_accuracy = events.Scalars("accuracy/test")
    assert [e.step for e in test_accuracy] == [1, 2, 3, 4]
    assert test_accuracy[-1].value == pytest.approx(result.history[-1].test_accuracy)
    # 25 steps per epoch, running loss every 5 steps.
    assert len(events.Scalars("loss/train_running")) == 4 * 25 // 5
    assert (result.run_dir / "config.json").exists()
    assert [p for p in result.run_dir.iterdir() if p.is_dir()] == []  # hparams in this folder


def test_run_folders_are_never_reused(config):
    first, second = train(replace(config, epochs=1)), train(replace(config, epochs=1))
    assert first.run_dir != second.run_dir
    assert first.run_dir.parent == second.run_dir.parent
    assert first.run_dir.name.startswith("binary_cross_entropy_l16_lr0.5_seed0_")


def hparams_columns(log_dir) -> list[str]:
    """The hyperparameters of TensorBoard's HPARAMS table for the runs in ``log_dir``, in the
    order TensorBoard shows them (its own code, on the runs' hparams summaries)."""
    from tensorboard.plugins.hparams.backend_context import Context

    contents = {}
    for run_dir in sorted(path for path in log_dir.iterdir() if path.is_dir()):
        events = EventAccumulator(str(run_dir))
        events.Reload()
        contents[run_dir.name] = events.PluginTagToContent("hparams")
    experiment = Context(None).experiment_from_metadata(None, "", False, contents, None)
    return [info.name for info in experiment.hparam_infos]


def test_hparams_table_leads_with_what_the_sweep_varied(config):
    sweep = replace(config, epochs=1)
    for lr in (0.5, 1.0):
        for seed in (0, 1):
            train(replace(sweep, lr=lr, seed=seed))
    columns = hparams_columns(Path(config.log_dir))
    assert columns[:2] == ["lr", "seed"]
    assert set(columns[2:]) >= {"hidden_size", "loss", "batch_size"}
    train(replace(sweep, lr=0.5, seed=0, hidden_size=8))
    assert hparams_columns(Path(config.log_dir))[:3] == ["hidden_size", "lr", "seed"]


def test_same_seed_same_weights(config):
    a = train(replace(config, epochs=2, log_dir=None)).model.state_dict()
    b = train(replace(config, epochs=2, log_dir=None)).model.state_dict()
    c = train(replace(config, epochs=2, log_dir=None, seed=1)).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_continues_a_given_model(config):
    torch.manual_seed(5)
    model = MLP(7, output_activation="sigmoid")
    result = train(replace(config, epochs=1, log_dir=None), model=model)
    assert result.model is model
    assert result.config.hidden_size == 7 and result.config.output_activation == "sigmoid"


@pytest.mark.parametrize("loss", ["mse", "mae", "binary_cross_entropy"])
def test_every_loss_trains(config, loss):
    result = train(replace(config, loss=loss, output_activation="sigmoid", lr=3.0,
                           log_dir=None, epochs=3))
    assert result.history[-1].train_loss < result.history[0].train_loss


def test_all_training_images_without_validation(config):
    result = train(replace(config, validation_size=0, epochs=1, log_dir=None))
    assert result.history[0].validation_accuracy is None
    assert "validation_accuracy" not in result.history[0].to_dict()


@pytest.mark.parametrize(("change", "message"), [
    ({"lr": 0.0}, "lr"), ({"lr": float("nan")}, "lr"), ({"hidden_size": 0}, "hidden_size"),
    ({"batch_size": 0}, "batch_size"), ({"loss": "hinge"}, "loss"),
])
def test_impossible_settings(config, change, message):
    with pytest.raises(ValueError, match=message):
        train(replace(config, **change))


def test_divergence_is_reported(config, on_sgd_step):
    from mnist_mlp.training import DivergenceError
    on_sgd_step(lambda step, lr: float("nan"))  # what η = 1e30 gives here, on any machine
    with pytest.raises(DivergenceError, match="smaller --lr"):
        train(replace(config, lr=1e30, loss="mse", output_activation="sigmoid",
                      activation="relu", epochs=2, log_dir=None))


@pytest.mark.parametrize(("output_activation", "loss"), [
    ("softmax", "binary_cross_entropy"), ("softmax", "log_likelihood"),
    ("sigmoid", "binary_cross_entropy")])
def test_a_log_loss_divergence_stops_the_reference_loop(config, on_sgd_step, output_activation,
                                                       loss):
    """A NaN step in epoch 2 (25 steps an epoch) under a logarithmic loss: the run stops there,
    naming its lr, and keeps epoch 1 as its last good checkpoint."""
    from mnist_mlp.training import DivergenceError
    on_sgd_step(lambda step, lr: lr if step <= 25 else float("nan"))
    with pytest.raises(DivergenceError, match=r"in epoch 2 \(lr 0\.5\).*last good checkpoint"):
        train(replace(config, output_activation=output_activation, loss=loss))
    (run,) = Path(config.log_dir).iterdir()
    assert load_checkpoint(run, prefer=("last.pt",)).epoch == 1


def test_nan_weights_stop_the_reference_loop_even_where_its_loss_is_finite(config, wreck):
    from mnist_mlp.training import DivergenceError
    wreck(0, "pixel 0")
    with pytest.raises(DivergenceError, match="epoch 1"):
        train(replace(config, log_dir=None))


def test_cli_summary_counts_a_diverged_network_and_leaves_it_out(tiny_data, wreck, capsys):
    wreck(1, "pixel 0")
    code = train_main(["--engine", "fast", "--seeds", "3", "--hidden", "8", "--epochs", "1",
                       "--device", "cpu", "--data-dir", str(tiny_data), "--quiet",
                       "--validation-size", "50", "--log-dir", ""])
    out, err = capsys.readouterr()
    assert code == 0 and "the network with lr 0.5 and seed 1 diverged in epoch 1" in err
    assert "3 networks, 1 diverged" in out
    assert "lr 0.5, seeds 0…2: 3 runs, 1 diverged" in out
    assert "n = 2)" in out and "n = 3)" not in out


def test_cli_trains_and_prints(tiny_data, tmp_path, capsys):
    code = train_main(["--hidden", "8", "--epochs", "2", "--device", "cpu",
                       "--data-dir", str(tiny_data), "--validation-size", "50",
                       "--log-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0
    assert "epoch   2" in out and "accuracy" in out and "tensorboard --logdir" in out


def test_cli_missing_data_is_one_line(tmp_path, capsys):
    code = train_main(["--data-dir", str(tmp_path / "nowhere"), "--epochs", "1",
                       "--log-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "--data-dir" in err and "MNIST_DATA" in err


@pytest.mark.parametrize("argv", [["--lr", "0"], ["--lr", "-1"], ["--hidden", "0"],
                                  ["--batch-size", "-5"], ["--loss", "hinge"],
                                  ["--validation-size", "-1"], ["--lr", "nan"]])
def test_cli_refuses_impossible_values(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.skipif(not os.environ.get("MNIST_DATA"), reason="MNIST_DATA not set")
def test_one_epoch_on_real_mnist(tmp_path):
    result = train(TrainConfig(epochs=1, device="cpu", log_dir=None))
    assert result.history[0].test_accuracy >= 0.90


@pytest.mark.skipif(not os.environ.get("MNIST_DATA"), reason="MNIST_DATA not set")
@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_the_chapters_recipe_from_n01_at_l300_trains_on_real_digits(engine):
    """Softmax and (35), l = 300, weights from N(0, 1), η = 0.5: one epoch of 3,000 digits in
    float32 stays finite and learns, on both trainers (the product form of (35) went NaN)."""
    config = TrainConfig(hidden_size=300, init="normal", epochs=1, train_size=3000,
                         device="cpu", log_dir=None)
    result = train(config) if engine == "reference" else train_many(config)[0]
    assert not result.history[0].diverged
    assert result.history[0].test_accuracy > 0.5


def test_cli_fast_engine_grid(tiny_data, tmp_path, capsys):
    code = train_main(["--engine", "fast", "--seeds", "3", "--lr", "0.5", "1.0", "--hidden",
                       "8", "--epochs", "2", "--device", "cpu", "--data-dir", str(tiny_data),
                       "--validation-size", "50", "--log-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0
    assert "6 networks" in out
    assert "lr 0.5, seeds 0…2: 3 runs, 0 diverged" in out and "lr 1, seeds 0…2" in out
    assert "epoch chosen by validation" in out and " ± " in out
    assert len([p for p in (tmp_path / "runs").iterdir() if p.is_dir()]) == 6
    assert len(list((tmp_path / "runs").glob("sweep-*.json"))) == 1  # its manifest


def test_a_config_describes_its_grid_and_each_network():
    grid = TrainConfig(lr=(0.1, 0.5), seed=7, seeds=3, hidden_size=8)
    grid.validate()
    assert grid.lrs == (0.1, 0.5) and list(grid.seed_range) == [7, 8, 9]
    networks = grid.networks()
    assert [(n.lr, n.seed, n.seeds) for n in networks] == [
        (lr, seed, 1) for lr in (0.1, 0.5) for seed in (7, 8, 9)]
    assert all(n.hidden_size == 8 and n.networks() == [n] for n in networks)
    assert grid.grid() == {"config": networks[0].shared(), "lrs": [0.1, 0.5], "seeds": [7, 8, 9]}
    assert "lr" not in grid.shared() and "seeds" not in grid.shared()
    assert TrainConfig(lr=(0.5,)).networks() == [TrainConfig()]


@pytest.mark.parametrize(("change", "words"), [
    ({"lr": (0.5, 0.5)}, "lr lists a learning rate twice"),
    ({"lr": (0.5, -1.0)}, "lr must be a positive number"),
    ({"seeds": 0}, "seeds must be at least 1"),
    ({"seed": 2**64 - 2, "seeds": 3}, f"2**64 − 1, got {2**64}"),
])
def test_an_impossible_grid_is_refused(change, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        replace(TrainConfig(), **change).validate()


def test_train_many_trains_the_grid_its_config_describes(config):
    grid = replace(config, lr=(0.5, 1.0), seeds=2, epochs=1, log_dir=None)
    results = train_many(grid)
    assert [(r.config.lr, r.config.seed, r.config.seeds) for r in results] == [
        (0.5, 0, 1), (0.5, 1, 1), (1.0, 0, 1), (1.0, 1, 1)]
    old_form = train_many(replace(grid, lr=0.5, seeds=1), [0, 1], [0.5, 1.0])
    assert [r.history[0].train_loss for r in old_form] == [
        r.history[0].train_loss for r in results]
    with pytest.raises(ConfigError, match="train trains one network"):
        train(grid)


def test_cli_reference_engine_several_seeds(tiny_data, capsys):
    code = train_main(["--seeds", "2", "--hidden", "8", "--epochs", "1", "--device", "cpu",
                       "--data-dir", str(tiny_data), "--validation-size", "50",
                       "--log-dir", ""])
    out = capsys.readouterr().out
    assert code == 0
    assert "--- lr 0.5, seed 1" in out and "2 runs" in out


def test_cli_fast_engine_single_network_prints_the_full_report(tiny_data, capsys):
    code = train_main(["--engine", "fast", "--hidden", "8", "--epochs", "1", "--device", "cpu",
                       "--data-dir", str(tiny_data), "--validation-size", "50",
                       "--log-dir", ""])
    out = capsys.readouterr().out
    assert code == 0 and "epoch   1" in out and "confusion matrix" in out


def test_on_step_reports_each_mini_batch(config):
    from mnist_mlp.training import StepInfo
    seen: list[StepInfo] = []
    train(replace(config, epochs=2, log_dir=None), on_step=seen.append)
    assert [(s.epoch, s.step) for s in seen] == [(e, i) for e in (1, 2) for i in range(1, 26)]
    assert all(s.steps == 25 and s.loss.dim() == 0 for s in seen)


def test_target_vectors_train_exactly_as_labels():
    """The loader gives y as 10-vectors (made once); the steps are those of labels."""
    from mnist_mlp.data import DigitTensors, batches
    from mnist_mlp.textbook.losses import log_likelihood
    from mnist_mlp.training.reference import train_epoch
    g = torch.Generator().manual_seed(0)
    data = DigitTensors(torch.rand(45, 784, generator=g), torch.randint(0, 10, (45,), generator=g))
    vectors = data.with_target_vectors()
    assert vectors.labels.dtype == torch.float32 and vectors.labels.shape == (45, 10)
    assert torch.equal(vectors.labels.argmax(dim=1), data.labels)
    assert torch.equal(vectors.labels.sum(dim=1), torch.ones(45))
    models = []
    for dataset in (data, vectors):
        torch.manual_seed(0)
        model = MLP(5)
        train_epoch(model, log_likelihood,
                    batches(dataset, 10, generator=torch.Generator().manual_seed(1)), 0.5)
        models.append(model)
    for name, value in models[0].state_dict().items():
        assert torch.equal(models[1].state_dict()[name], value), name


def test_steps_run_on_one_thread_and_the_setting_is_restored():
    from mnist_mlp.data import DigitTensors, batches
    from mnist_mlp.textbook.losses import log_likelihood
    from mnist_mlp.training.reference import train_epoch
    data = DigitTensors(torch.rand(20, 784), torch.randint(0, 10, (20,)))
    before, during = torch.get_num_threads(), []
    torch.set_num_threads(2)
    try:
        train_epoch(MLP(3), log_likelihood, batches(data, 10), 0.1,
                    on_step=lambda loss: during.append(torch.get_num_threads()), threads=1)
        assert during == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("batch_size", "threads"), [(10, 1), (100, 2)])
def test_small_mini_batches_train_on_one_thread(config, batch_size, threads):
    before, during = torch.get_num_threads(), set()
    torch.set_num_threads(2)
    try:
        train(replace(config, batch_size=batch_size, epochs=1, log_dir=None),
              on_step=lambda info: during.add(torch.get_num_threads()))
        assert during == {threads} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------------------------
# --device auto, and the first line of a run: what it trains and where


@pytest.mark.parametrize(("cuda", "mps", "device", "why"), [
    (True, True, "cuda", "auto: a GPU is here"),
    (True, False, "cuda", "auto: a GPU is here"),
    (False, True, "cpu", "MPS runs only when asked for"),
    (False, False, "cpu", "auto: no GPU here")])
def test_auto_takes_cuda_where_there_is_one_and_never_mps(monkeypatch, cuda, mps, device, why):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto") == torch.device(device)
    assert why in why_device("auto")
    assert why_device("cpu") == "asked for"
    if mps:  # MPS runs when asked for by name
        assert resolve_device("mps") == torch.device("mps")
    else:
        with pytest.raises(ConfigError, match="MPS is not available"):
            resolve_device("mps")
    if not cuda:
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")


def test_a_gpu_that_is_not_there_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match=r"has 2 GPU\(s\), cuda:0 to cuda:1; use one of them"):
        resolve_device("cuda:2")


def first_line_of(argv, tiny_data, capsys) -> str:
    code = train_main([*argv, "--epochs", "2", "--data-dir", str(tiny_data),
                       "--validation-size", "50", "--log-dir", "", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    return out.splitlines()[0]


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_the_first_line_names_what_trains_and_where(monkeypatch, tiny_data, capsys, engine):
    """Computed from the settings and the trainer: other settings, another line."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    backend = Engine([MLP(2)], [0.1], "mse").backend.name  # the compiled loop, if it builds
    trainer = "reference loop" if engine == "reference" else (
        f"fast engine ({BACKEND_WORDS[backend]})")
    engine = ["--engine", engine]
    line = first_line_of([*engine, "--hidden", "8"], tiny_data, capsys)
    assert line == ("training 784-8-10 (sigmoid hidden, softmax output), the cross-entropy (35), "
                    f"both terms, η 0.5, mini-batches of 10, 2 epochs, seed 0, 50 validation "
                    f"images | {trainer} | device cpu (auto: no GPU here)")
    line = first_line_of([*engine, "--hidden", "5", "--loss", "mse",
                          "--output-activation", "sigmoid", "--activation", "tanh", "--lr",
                          "0.25", "--batch-size", "7", "--seed", "3", "--device", "cpu",
                          "--train-size", "200"], tiny_data, capsys)
    assert line == (f"training 784-5-10 (tanh hidden, sigmoid output), {loss_words('mse')}, "
                    f"η 0.25, mini-batches of 7, 2 epochs, seed 3, 200 training images, 50 "
                    f"validation images | {trainer} | device cpu (asked for)")
    assert data_words(TrainConfig(validation_size=0)) == ", no validation"
    assert data_words(TrainConfig()) == ""  # the book's 50,000 and 10,000: nothing to say


def test_the_first_line_of_a_sweep_names_all_its_networks(tiny_data, capsys):
    """The reference loop trains a sweep's networks in turn: one first line for all of them."""
    code = train_main(["--seeds", "2", "--lr", "0.5", "2", "--hidden", "4", "--epochs", "1",
                       "--device", "cpu", "--data-dir", str(tiny_data), "--validation-size",
                       "50", "--log-dir", "", "--quiet"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].startswith("training 4 networks 784-4-10 ")
    assert "η 0.5, 2," in lines[0]
    assert "seeds 0…1, 50 validation images | reference loop |" in lines[0]
    assert lines[1] == "--- lr 0.5, seed 0"
    assert sum(line.startswith("training ") for line in lines) == 1


def test_the_start_of_a_run_as_the_trainers_see_it(config):
    """``on_start`` is given the networks, the trainer in words (the engine's backend), the
    device and why, and the first epoch to come (after a resumed one's)."""
    starts = []
    train(replace(config, epochs=1), on_start=starts.append)
    train_many(replace(config, log_dir=None), seeds=[0, 1], native=False,
               on_start=starts.append)
    first = train(config, on_start=starts.append)
    train(replace(config, epochs=6), resume=first.run_dir, on_start=starts.append)
    assert [s.trainer for s in starts] == ["reference loop", "fast engine (tensor operations)",
                                           "reference loop", "reference loop"]
    assert [len(s.configs) for s in starts] == [1, 2, 1, 1]
    assert [s.first_epoch for s in starts] == [1, 1, 1, config.epochs + 1]
    assert all(s.device == torch.device("cpu") and s.device_reason == "asked for"
               for s in starts)
    assert "epochs 5…6 (resumed)" in start_line(starts[-1])


def test_the_reference_loop_on_a_cpu_takes_the_plain_step(config):
    """Only CUDA replays captured steps: on a CPU the loop calls ``sgd_step`` itself."""
    from mnist_mlp.data import load_mnist
    from mnist_mlp.training.driver import _network
    from mnist_mlp.training.reference import ReferenceTrainer
    data = load_mnist(config.data_dir, validation_size=50)
    trainer = ReferenceTrainer([_network(config, None, None)], data.train, torch.device("cpu"))
    assert trainer.step is sgd_step and trainer.description == "reference loop"


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_the_training_set_is_evaluated_every_n_epochs_and_after_the_last(config, engine,
                                                                          capsys):
    """``evaluate_train_every=3`` over 4 epochs: the whole training set after epochs 3 and 4
    only; the other records hold the mean mini-batch loss alone, say so in their line, are
    not counted as diverged, and read back from their JSON as they were."""
    config = replace(config, evaluate_train_every=3)
    result = train(config) if engine == "reference" else train_many(config)[0]
    assert [r.train_loss is not None for r in result.history] == [False, False, True, True]
    assert [r.train_accuracy is not None for r in result.history] == [False, False, True, True]
    assert not any(r.diverged for r in result.history)
    assert all(r.minibatch_loss is not None for r in result.history)
    assert result.history[0].training_loss == result.history[0].minibatch_loss
    assert result.history[3].training_loss == result.history[3].train_loss
    assert [EpochRecord.from_dict(json.loads(json.dumps(r.to_dict())))
            for r in result.history] == result.history
    lines = [epoch_line(r) for r in result.history]
    assert "mini-batch loss" in lines[0] and "train loss" not in lines[0]
    assert "train loss" in lines[2] and "mini-batch" not in lines[2]
    code = train_main(["--epochs", "2", "--evaluate-train-every", "5", "--hidden", "8",
                       "--device", "cpu", "--data-dir", config.data_dir, "--validation-size",
                       "50", "--log-dir", ""])
    out = capsys.readouterr().out
    assert code == 0 and "epoch   1  mini-batch loss" in out and "epoch   2  train loss" in out
