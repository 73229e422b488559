"""The fast engine equals the reference trainer: same weights, same history, K at once."""

import copy
import math
from dataclasses import replace

import pytest
import torch
from helpers import add_in_python_only, needs_compiler, needs_cuda, random_digits

from mnist_mlp import MLP, TrainConfig, train, train_many
from mnist_mlp.data import batches
from mnist_mlp.engine import Engine
from mnist_mlp.inference import evaluate_checkpoint
from mnist_mlp.textbook.losses import get_loss, network_loss
from mnist_mlp.textbook.metrics import confusion_matrix
from mnist_mlp.textbook.model import WeightedInput
from mnist_mlp.textbook.sgd import sgd_step
from mnist_mlp.training import DivergenceError, resume_config
from mnist_mlp.training.checkpoints import LAST, build_model, load_checkpoint
from mnist_mlp.training.reference import train_epoch
from mnist_mlp.training.stats import summarize

SETUPS = [("log_likelihood", "softmax", "sigmoid"), ("binary_cross_entropy", "sigmoid", "sigmoid"),
          ("mse", "sigmoid", "sigmoid"), ("mse", "softmax", "tanh"),
          ("mae", "sigmoid", "relu"), ("binary_cross_entropy", "softmax", "tanh"),
          ("log_likelihood", "sigmoid", "relu")]


NATIVE = [False, pytest.param(True, marks=needs_compiler)]


def reference_epoch(model, data, loss, lr, batch_size, seed):
    """An epoch of the reference loop as its trainer runs it: the loss taken of z."""
    train_epoch(WeightedInput(model), network_loss(loss, model.output_activation),
                batches(data, batch_size, generator=torch.Generator().manual_seed(seed)), lr)
    return model


def engine_epoch(models, data, loss, lrs, batch_size, seeds, dtype, native=None):
    engine = Engine(models, lrs, loss, dtype=dtype, native=native)
    targets = torch.nn.functional.one_hot(data.labels, 10).to(dtype)
    engine.epoch(data.images, targets, batch_size, [torch.Generator().manual_seed(s)
                                                    for s in seeds])
    return engine.models()


def assert_same_weights(a: MLP, b: MLP, rtol: float) -> None:
    for name, expected in a.state_dict().items():
        got = b.state_dict()[name]
        scale = expected.abs().max()
        assert ((got - expected).abs().max() / scale).item() <= rtol, name


@pytest.mark.parametrize(("loss", "output_activation", "activation"), SETUPS)
@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("compiled", NATIVE, ids=["tensor-ops", "native"])
def test_one_epoch_equals_reference(loss, output_activation, activation, dtype, rtol, compiled):
    torch.manual_seed(1)
    model = MLP(7, activation, output_activation, init="scaled_normal").to(dtype)
    data = random_digits(dtype=dtype)  # 95 samples: the last mini-batch has 5
    (fast,) = engine_epoch([copy.deepcopy(model)], data, loss, [0.3], 10, [4], dtype, compiled)
    assert_same_weights(reference_epoch(model, data, loss, 0.3, 10, 4), fast, rtol)


def saturated_network(scale: float = 1.0) -> MLP:
    """l = 300, weights and biases from N(0, 1) (the output weights times ``scale``): outputs so
    far apart that 1/F and 1/(1 − F) of (35) overflow in float32."""
    torch.manual_seed(0)
    model = MLP(300, "sigmoid", "softmax", init="normal")
    with torch.no_grad():
        model.output.weight.mul_(scale)
    return model


def product_form_overflows(model: MLP, data) -> bool:
    """Whether ∂ℓ/∂F of (35) times the softmax Jacobian is infinite or NaN on some digit."""
    with torch.no_grad():
        F = model(data.images)
        error = model.output_activation.backward(F, get_loss("binary_cross_entropy").grad(
            F, data.labels))
    return not bool(error.isfinite().all())


@pytest.mark.parametrize("compiled", NATIVE, ids=["tensor-ops", "native"])
def test_the_softmax_and_35_at_saturated_outputs_equal_the_reference(compiled):
    """float32, outputs tens of e-folds apart (where the product form overflows): the engine's
    fused (BP1) and the reference loop's autograd of (35) from z take the same steps. Three
    steps, because these dynamics amplify any rounding, by about e^0.55 a step (two float64
    runs of them part to 10⁻⁴ within 50 steps): rounding of 10⁻⁷ stays below 10⁻⁵."""
    model, data = saturated_network(scale=4.0), random_digits(30, torch.float32, zeros=0.8)
    assert product_form_overflows(model, data)
    (fast,) = engine_epoch([copy.deepcopy(model)], data, "binary_cross_entropy", [0.5], 10, [1],
                           torch.float32, compiled)
    reference = reference_epoch(model, data, "binary_cross_entropy", 0.5, 10, 1)
    assert all(p.isfinite().all() for p in fast.parameters())
    assert_same_weights(reference, fast, 1e-5)


def test_the_reference_loop_trains_the_softmax_and_35_from_n01_at_l300():
    """300 steps of l = 300 from N(0, 1) in float32 on random digits: the product form of (35)
    would overflow on the way (on 9 of these mini-batches, from step 8 on); the reference loop's
    autograd of (35) from z keeps the weights finite."""
    model, data = saturated_network(), random_digits(3000, torch.float32, zeros=0.8)
    loss_of_z = network_loss("binary_cross_entropy", model.output_activation)
    overflowed = []
    for step, (x, labels) in enumerate(zip(data.images.split(10), data.labels.split(10),
                                           strict=True)):
        if product_form_overflows(model, type(data)(x, labels)):
            overflowed.append(step)
        assert sgd_step(WeightedInput(model), loss_of_z, x, labels, 0.5).isfinite()
    assert len(overflowed) >= 5
    assert all(p.isfinite().all() for p in model.parameters())


@pytest.mark.parametrize("compiled", NATIVE, ids=["tensor-ops", "native"])
def test_the_engine_trains_the_softmax_and_35_from_n01_at_l300(compiled):
    """The same 300 steps (in another order) on the engine: finite weights and losses."""
    engine = Engine([saturated_network()], [0.5], "binary_cross_entropy", native=compiled)
    data = random_digits(3000, torch.float32, zeros=0.8)
    targets = torch.nn.functional.one_hot(data.labels, 10).float()
    losses = engine.epoch(data.images, targets, 10, [torch.Generator().manual_seed(0)])
    assert losses.isfinite().all()
    assert all(p.isfinite().all() for p in engine.models()[0].parameters())


@pytest.mark.parametrize("compiled", NATIVE, ids=["tensor-ops", "native"])
def test_networks_trained_together_equal_networks_trained_alone(compiled):
    data = random_digits()
    lrs, seeds = [0.1, 0.5, 2.0], [0, 1, 2]
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(MLP(5, init="normal").double())
    together = engine_epoch([copy.deepcopy(m) for m in models], data, "log_likelihood", lrs, 10,
                            seeds, torch.float64, compiled)
    for model, lr, seed, trained in zip(models, lrs, seeds, together, strict=True):
        (alone,) = engine_epoch([model], data, "log_likelihood", [lr], 10, [seed], torch.float64,
                                compiled)
        assert_same_weights(alone, trained, 1e-12)


@needs_compiler
@pytest.mark.parametrize(("activation", "loss", "missing"), [
    ("softplus", "mse", "hidden activation 'softplus'"), ("tanh", "huber", "loss 'huber'")])
def test_a_function_added_in_python_only_trains_on_the_tensor_operations(
        monkeypatch, activation, loss, missing):
    """An activation or a loss added in Python only, without its C case: the engine says so in
    one warning and trains on the tensor operations, the weights the reference loop's."""
    add_in_python_only(monkeypatch)
    torch.manual_seed(1)
    model = MLP(7, activation, "sigmoid", init="scaled_normal").double()
    data = random_digits()
    with pytest.warns(UserWarning) as caught:
        (fast,) = engine_epoch([copy.deepcopy(model)], data, loss, [0.3], 10, [4], torch.float64)
    assert [str(w.message) for w in caught] == [
        f"the native CPU loop has no {missing}; the engine uses tensor operations instead "
        "(slower)"]
    assert_same_weights(reference_epoch(model, data, loss, 0.3, 10, 4), fast, 1e-10)
    with pytest.raises(RuntimeError, match=f"the native CPU loop has no {missing}"):
        Engine([model], [0.3], loss, dtype=torch.float64, native=True)


def test_engine_rejects_mixed_architectures():
    with pytest.raises(ValueError, match="architecture"):
        Engine([MLP(3), MLP(4)], [0.1, 0.1], "mse")
    with pytest.raises(ValueError, match="learning rate"):
        Engine([MLP(3)], [0.1, 0.2], "mse")


@pytest.mark.parametrize("compiled", NATIVE, ids=["tensor-ops", "native"])
def test_evaluate_matches_the_models(compiled):
    torch.manual_seed(0)
    models = [MLP(6), MLP(6, init="normal")]
    data = random_digits(40, torch.float32)
    engine = Engine(models, [0.1, 0.1], "log_likelihood", native=compiled)
    losses, confusions = engine.evaluate(data)
    for k, model in enumerate(models):
        with torch.no_grad():
            output = model(data.images)
        assert torch.equal(confusions[k], confusion_matrix(output.argmax(dim=1), data.labels))
        expected = get_loss("log_likelihood").fn(output, data.labels).item()
        assert losses[k].item() == pytest.approx(expected, rel=1e-5)


@pytest.fixture(scope="module")
def tiny_config(tiny_data):
    return TrainConfig(hidden_size=12, epochs=3, device="cpu", data_dir=str(tiny_data),
                       validation_size=50, log_dir=None)


def test_train_many_equals_train(tiny_config):
    results = train_many(tiny_config, seeds=[0, 1], lrs=[0.5, 1.0])
    assert [(r.config.lr, r.config.seed) for r in results] == [(0.5, 0), (0.5, 1), (1.0, 0),
                                                               (1.0, 1)]
    for result in results:
        reference = train(result.config)
        assert_same_weights(reference.model, result.model, 1e-5)
        for ours, theirs in zip(result.history, reference.history, strict=True):
            assert ours.to_dict().keys() == theirs.to_dict().keys()
            for key in ("minibatch_loss", "train_loss", "test_loss", "validation_loss"):
                assert getattr(ours, key) == pytest.approx(getattr(theirs, key), rel=1e-4)
            for key in ("train_accuracy", "test_accuracy", "validation_accuracy"):
                assert getattr(ours, key) == pytest.approx(getattr(theirs, key),
                                                           abs=0.011)  # one image in 100
        assert result.metrics.accuracy == pytest.approx(reference.metrics.accuracy, abs=0.011)


def test_train_many_over_seeds_agrees_with_reference_in_distribution(tiny_config):
    """Over seeds, final test accuracies of engine and reference agree (small configuration)."""
    config = replace(tiny_config, epochs=5, train_size=200, hidden_size=8, lr=0.3)
    seeds = list(range(6))
    fast = [r.metrics.accuracy for r in train_many(config, seeds=seeds)]
    reference = [train(replace(config, seed=s)).metrics.accuracy for s in seeds]
    assert sum(fast) / len(fast) == pytest.approx(sum(reference) / len(reference), abs=0.02)


def test_train_many_divergence(tiny_config):
    with pytest.raises(DivergenceError, match="smaller --lr"), pytest.warns(UserWarning):
        train_many(replace(tiny_config, lr=1e30, loss="mse", output_activation="sigmoid",
                           activation="relu"), seeds=[0, 1])


def test_train_many_keeps_going_when_some_diverge(tiny_config):
    with pytest.warns(UserWarning, match=r"the network with lr 1e\+30 and seed 0 diverged in "
                                         r"epoch 1 \(training loss nan(, weights NaN or "
                                         r"infinite)?\); it has no checkpoint"):
        results = train_many(replace(tiny_config, epochs=2, loss="mse",
                                     output_activation="sigmoid", activation="relu"),
                             lrs=[0.5, 1e30])
    assert torch.isfinite(torch.tensor(results[0].history[-1].train_loss))
    assert not torch.isfinite(torch.tensor(results[1].history[-1].train_loss))


@pytest.mark.parametrize("compiled", NATIVE, ids=["tensor-ops", "native"])
@pytest.mark.parametrize("where", ["output", "pixel 0"])
def test_a_network_with_nan_weights_is_recorded_as_diverged(tiny_config, tmp_path, wreck,
                                                           compiled, where):
    """Under the cross-entropy (35) on a softmax, whether or not the loop's loss sees the NaN
    weights (the compiled loop never reads pixel 0, always 0 here): the network is recorded as
    diverged, named with its lr and seed, counted and kept out of the means, and leaves no
    checkpoint; the others train on."""
    wreck(1, where)
    config = replace(tiny_config, epochs=2, log_dir=str(tmp_path))
    with pytest.warns(UserWarning, match=r"the network with lr 0\.5 and seed 1 diverged in epoch "
                                         r"1 \(training loss .*, weights NaN or infinite\)"):
        results = train_many(config, seeds=[0, 1, 2], native=compiled)
    assert [[r.diverged for r in result.history] for result in results] == [
        [False, False], [True, True], [False, False]]
    if where == "output":  # NaN outputs give a NaN loss, also through the clamped logarithm
        assert math.isnan(results[1].history[0].minibatch_loss)
        assert math.isnan(results[1].history[0].train_loss)
    summary = summarize([result.history for result in results])
    assert summary["diverged"] == 1 and summary["final"].n == 2
    assert summary["final"].mean == pytest.approx(
        (results[0].history[-1].test_accuracy + results[2].history[-1].test_accuracy) / 2)
    assert not {"last.pt", "best.pt"} & {p.name for p in results[1].run_dir.glob("*.pt")}
    assert load_checkpoint(results[0].run_dir, prefer=(LAST,)).epoch == 2


def test_the_compiled_loss_of_a_nan_output_is_nan():
    """The clamped logarithm of the compiled loop lets a NaN through, as torch's clamp does."""
    data = random_digits(30, torch.float32)
    torch.manual_seed(0)
    model = MLP(5)
    with torch.no_grad():
        model.output.weight[:, 0] = float("nan")
    for loss in ("binary_cross_entropy", "log_likelihood"):
        engines = [Engine([copy.deepcopy(model)], [0.1], loss, native=native)
                   for native in (False, True)]
        if engines[1].backend.name != "native":
            pytest.skip("no C compiler")
        for engine in engines:
            assert math.isnan(engine.evaluate(data)[0].item())
            losses = engine.epoch(data.images, torch.nn.functional.one_hot(data.labels, 10).float(),
                                  10, [torch.Generator().manual_seed(0)])
            assert losses.isnan().all()


def test_train_many_logs_each_network(tiny_config, tmp_path):
    results = train_many(replace(tiny_config, epochs=2, log_dir=str(tmp_path)), seeds=[0, 1])
    assert len({r.run_dir for r in results}) == 2
    for result in results:
        assert (result.run_dir / "config.json").exists()
        assert any(p.name.startswith("events.out.tfevents") for p in result.run_dir.iterdir())


def test_train_many_refuses_a_batch_larger_than_the_data(tiny_config):
    with pytest.raises(ValueError, match="batch_size 1000"):
        train_many(replace(tiny_config, batch_size=1000))


def test_train_many_writes_checkpoints_that_evaluate_and_resume(tiny_config, tmp_path):
    results = train_many(replace(tiny_config, epochs=2, log_dir=str(tmp_path)), seeds=[0, 1])
    for result in results:
        saved = load_checkpoint(result.run_dir, prefer=(LAST,))
        assert saved.epoch == 2 and saved.records() == result.history
        assert_same_weights(result.model, build_model(saved), 0.0)
        report = evaluate_checkpoint(result.run_dir / LAST, tiny_config.data_dir, "cpu")
        assert report.test.accuracy == result.metrics.accuracy
    # the reference loop continues a network of the engine with the same mini-batch order
    resumed = train(resume_config(results[0].run_dir, epochs=3), resume=results[0].run_dir)
    straight = train(replace(tiny_config, epochs=3, seed=0))
    assert [r.epoch for r in resumed.history] == [1, 2, 3]
    assert_same_weights(straight.model, resumed.model, 1e-4)


def test_a_diverged_network_keeps_its_last_good_checkpoint(tiny_config, tmp_path):
    with pytest.warns(UserWarning, match="it has no checkpoint"):
        results = train_many(replace(tiny_config, epochs=2, loss="mse",
                                     output_activation="sigmoid", activation="relu",
                                     log_dir=str(tmp_path)), lrs=[0.5, 1e30])
    assert load_checkpoint(results[0].run_dir, prefer=(LAST,)).epoch == 2
    # diverged in epoch 1: nothing good saved; its state, for a resumed sweep, in diverged.pt
    assert [p.name for p in results[1].run_dir.glob("*.pt")] == ["diverged.pt"]
    assert load_checkpoint(results[1].run_dir / "diverged.pt").epoch == 2


def test_train_many_logs_the_running_loss_as_the_reference_does(tiny_config, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def running_loss(run_dir):
        events = EventAccumulator(str(run_dir))
        events.Reload()
        return [(e.step, e.value) for e in events.Scalars("loss/train_running")]

    config = replace(tiny_config, epochs=2, log_every=7)  # 25 mini-batches per epoch
    (fast,) = train_many(replace(config, log_dir=str(tmp_path / "fast")))
    reference = train(replace(config, log_dir=str(tmp_path / "reference")))
    ours, theirs = running_loss(fast.run_dir), running_loss(reference.run_dir)
    assert [step for step, _ in ours] == [step for step, _ in theirs] == [7, 14, 21, 28, 35, 42,
                                                                          49]
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        assert a == pytest.approx(b, rel=1e-4)


@pytest.mark.parametrize("compiled", NATIVE, ids=["tensor-ops", "native"])
def test_mini_batch_losses_summed_up_as_the_epoch_runs_are_the_reference_loops(compiled):
    """Each network's mini-batch losses, taken step by step (nothing of the data's size kept),
    are those the reference loop sees before each of its steps."""
    data = random_digits(45, torch.float32)
    torch.manual_seed(0)
    models = [MLP(4) for _ in range(3)]
    engine = Engine(copy.deepcopy(models), [0.5] * 3, "log_likelihood", native=compiled)
    losses = engine.epoch(data.images, torch.nn.functional.one_hot(data.labels, 10).float(), 10,
                          [torch.Generator().manual_seed(k) for k in range(3)])
    assert losses.shape == (3, 5)  # 45 digits: 4 mini-batches of 10 and one of 5
    for k, model in enumerate(models):
        reference = train_epoch(WeightedInput(model),
                                network_loss("log_likelihood", model.output_activation),
                                batches(data, 10, generator=torch.Generator().manual_seed(k)),
                                0.5)
        torch.testing.assert_close(losses[k], reference, rtol=1e-5, atol=0)




@needs_cuda
@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_cuda_epoch_with_graphs_equals_the_reference(dtype, rtol):
    """On a GPU: 1,003 digits are 2 CUDA-graph chunks of 50 steps and 1 eager partial batch."""
    torch.manual_seed(1)
    model = MLP(7, "tanh", "softmax", init="scaled_normal").to(dtype)
    data = random_digits(1003, dtype=dtype)
    engine = Engine([copy.deepcopy(model)], [0.3], "mse", device="cuda", dtype=dtype,
                    fused=False)
    targets = torch.nn.functional.one_hot(data.labels, 10).to("cuda", dtype)
    engine.epoch(data.images.cuda(), targets, 10, [torch.Generator().manual_seed(4)])
    assert engine.backend.graphs, "no CUDA graph was captured"
    (fast,) = engine.models()
    assert_same_weights(reference_epoch(model, data, "mse", 0.3, 10, 4), fast.cpu(), rtol)


@needs_cuda
def test_train_many_on_cuda_equals_train(tiny_config):
    config = replace(tiny_config, device="cuda", epochs=2)
    (fast,) = train_many(config)
    reference = train(config)
    assert_same_weights(reference.model.cpu(), fast.model.cpu(), 1e-4)
