"""On a GPU: the engine's fused kernel and CUDA-graph backend, its batched evaluation, the
reference loop's captured step and every command of the library that takes ``--device cuda``
give what the CPU (or the eager step) gives (the lab's on CUDA: tests/lab/test_lab_cuda.py).
Each test is skipped where CUDA is absent (and a test of the fused kernel where it cannot be
built, saying why)."""

import copy
from dataclasses import replace

import pytest
import torch
from helpers import add_in_python_only, needs_cuda, random_digits

from mnist_mlp import MLP, TrainConfig, train, train_many
from mnist_mlp.cli.evaluate import main as evaluate_main
from mnist_mlp.cli.train import main as train_main
from mnist_mlp.data import batches
from mnist_mlp.engine import Engine
from mnist_mlp.engine.fused import device as fused_device
from mnist_mlp.inference import evaluate_checkpoint
from mnist_mlp.textbook.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from mnist_mlp.textbook.losses import LOSSES, get_loss
from mnist_mlp.textbook.sgd import sgd_step
from mnist_mlp.training import DivergenceError, resolve_device, resume_config
from mnist_mlp.training.checkpoints import LAST, build_model, load_checkpoint
from mnist_mlp.training.reference import CapturedStep, train_epoch
from mnist_mlp.training.stats import summarize

DEVICE = "cuda"
pytestmark = needs_cuda


def stacked_epochs(device, data, epochs=2, cuda_graph=True, k=3):
    """K networks (learning rates 0.1, 0.5, 1.0, …) trained ``epochs`` epochs in float64 on
    ``device``: the engine and each epoch's mini-batch losses."""
    torch.manual_seed(0)
    models = [MLP(7, "sigmoid", "softmax") for _ in range(k)]
    lrs = [0.1, 0.5, 1.0, 3.0][:k]
    engine = Engine(models, lrs, "log_likelihood", device=device, dtype=torch.float64,
                    cuda_graph=cuda_graph)
    images = data.images.to(device)
    targets = torch.nn.functional.one_hot(data.labels, 10).to(device, torch.float64)
    generators = [torch.Generator().manual_seed(s) for s in range(k)]
    losses = [engine.epoch(images, targets, 10, generators).cpu() for _ in range(epochs)]
    return engine, losses


def weights(engine):
    return [t.cpu() for t in (engine.W1, engine.b1, engine.W2, engine.b2)]


def test_k_networks_on_cuda_graphs_equal_the_cpu_engine():
    """1,003 digits: two graph replays of 50 steps and one eager partial batch per epoch,
    three networks with their own learning rates and shuffles, two epochs."""
    data = random_digits(1003)
    gpu, gpu_losses = stacked_epochs(DEVICE, data)
    cpu, cpu_losses = stacked_epochs("cpu", data)
    assert len(gpu.backend.graphs) == 1, "one capture serves every chunk of every epoch"
    for ours, theirs in zip(weights(gpu) + gpu_losses, weights(cpu) + cpu_losses, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def test_graph_replays_equal_eager_steps_on_the_gpu():
    data = random_digits(1003)
    graphs, graph_losses = stacked_epochs(DEVICE, data)
    eager, eager_losses = stacked_epochs(DEVICE, data, cuda_graph=False)
    assert type(eager.backend).__name__ == "TensorOps"
    for ours, theirs in zip(weights(graphs) + graph_losses, weights(eager) + eager_losses,
                            strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)


def test_the_softmax_and_35_at_saturated_outputs_on_cuda():
    """l = 300 from N(0, 1), the cross-entropy (35) on a softmax, float32, outputs tens of
    e-folds apart: three eager steps equal the CPU's (these dynamics amplify rounding by about
    e^0.55 a step, so only a few steps can be held to it), and 300 steps through CUDA graphs
    keep every weight and loss finite."""
    data = random_digits(3000, torch.float32, zeros=0.8)
    targets = torch.nn.functional.one_hot(data.labels, 10).float()

    def engine(device, cuda_graph=True):
        torch.manual_seed(0)  # fused=False: in float32 the engine would take the fused kernel
        return Engine([MLP(300, "sigmoid", "softmax", init="normal")], [0.5],
                      "binary_cross_entropy", device=device, cuda_graph=cuda_graph, fused=False)

    gpu, cpu = engine(DEVICE, cuda_graph=False), engine("cpu")
    for ours, images, labels in ((gpu, data.images[:30].to(DEVICE), targets[:30].to(DEVICE)),
                                 (cpu, data.images[:30], targets[:30])):
        ours.epoch(images, labels, 10, [torch.Generator().manual_seed(1)])
    for ours, theirs in zip(weights(gpu), weights(cpu), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    graphs = engine(DEVICE)
    losses = graphs.epoch(data.images.to(DEVICE), targets.to(DEVICE), 10,
                          [torch.Generator().manual_seed(0)])
    assert graphs.backend.graphs, "no CUDA graph was captured"
    assert losses.isfinite().all() and all(t.isfinite().all() for t in weights(graphs))


def test_a_loss_added_in_python_only_trains_on_cuda_graphs(monkeypatch):
    """A loss the fused kernel has no case for: one warning, CUDA graphs instead, the CPU's
    numbers."""
    add_in_python_only(monkeypatch)
    data = random_digits(1003, torch.float32)
    targets = torch.nn.functional.one_hot(data.labels, 10).float()
    torch.manual_seed(0)
    model = MLP(7, "softplus", "sigmoid")
    with pytest.warns(UserWarning) as caught:
        gpu = Engine([copy.deepcopy(model)], [0.5], "huber", device=DEVICE)
    assert [str(w.message) for w in caught] == [
        "the fused kernel has no hidden activation 'softplus'; the engine uses CUDA graphs "
        "instead (slower)"]
    assert gpu.backend.name == "cuda-graphs"
    cpu = Engine([model], [0.5], "huber", native=False)
    gpu.epoch(data.images.to(DEVICE), targets.to(DEVICE), 10, [torch.Generator().manual_seed(0)])
    cpu.epoch(data.images, targets, 10, [torch.Generator().manual_seed(0)])
    for ours, theirs in zip(weights(gpu), weights(cpu), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_batched_evaluation_on_cuda_equals_the_cpu(k):
    """The GPU's evaluation (batched products over the whole split) gives the CPU's loss and
    the same confusion matrices, digit for digit."""
    data = random_digits(2500, seed=3)
    gpu, _ = stacked_epochs(DEVICE, random_digits(200), epochs=1, k=k)
    cpu, _ = stacked_epochs("cpu", random_digits(200), epochs=1, k=k)
    on_gpu = type(data)(data.images.to(DEVICE), data.labels.to(DEVICE))
    gpu_loss, gpu_confusion = gpu.evaluate(on_gpu)
    cpu_loss, cpu_confusion = cpu.evaluate(data)
    assert gpu_confusion.device.type == "cpu" and gpu_confusion.sum() == k * len(data)
    assert torch.equal(gpu_confusion, cpu_confusion)
    torch.testing.assert_close(gpu_loss.cpu(), cpu_loss, rtol=1e-10, atol=0)


@pytest.fixture(scope="module")
def gpu_config(tiny_data):
    return TrainConfig(hidden_size=12, epochs=2, device=DEVICE, data_dir=str(tiny_data),
                       validation_size=50, log_dir=None)


@pytest.mark.parametrize("fused", [None, False], ids=["default", "cuda-graphs"])
def test_train_many_on_cuda_equals_train_many_on_the_cpu(gpu_config, fused):
    gpu = train_many(gpu_config, seeds=[0, 1], lrs=[0.5, 1.0], fused=fused)
    cpu = train_many(replace(gpu_config, device="cpu"), seeds=[0, 1], lrs=[0.5, 1.0])
    for ours, theirs in zip(gpu, cpu, strict=True):
        assert ours.config.seed == theirs.config.seed and ours.config.lr == theirs.config.lr
        for a, b in zip(ours.model.state_dict().values(), theirs.model.state_dict().values(),
                        strict=True):
            torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-5)
        for a, b in zip(ours.history, theirs.history, strict=True):
            assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=0.011)
            assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)


@pytest.mark.parametrize("fused", [None, False], ids=["default", "cuda-graphs"])
def test_a_network_with_nan_weights_on_cuda_is_recorded_as_diverged(gpu_config, wreck, fused):
    """250 digits in mini-batches of 5: one graph replay of 50 steps an epoch (or the fused
    kernel, by default in float32)."""
    wreck(1, "output")
    with pytest.warns(UserWarning, match=r"lr 0\.5 and seed 1 diverged in epoch 1"):
        results = train_many(replace(gpu_config, batch_size=5), seeds=[0, 1, 2], fused=fused)
    assert [result.history[-1].diverged for result in results] == [False, True, False]
    summary = summarize([result.history for result in results])
    assert summary["diverged"] == 1 and summary["final"].n == 2


@pytest.mark.parametrize("batch_size", [10, 12], ids=["full batches", "last batch smaller"])
def test_reference_run_on_cuda_resumes_exactly(gpu_config, tmp_path, batch_size):
    """The resumed run captures its step anew: the weights are bitwise those of the run that
    went straight on (250 digits: every step replayed, or the last of each epoch eager)."""
    config = replace(gpu_config, log_dir=str(tmp_path), epochs=3, batch_size=batch_size)
    straight = train(config)
    first = train(replace(config, epochs=1))
    resumed = train(resume_config(first.run_dir, epochs=3), resume=first.run_dir)
    for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values(),
                    strict=True):
        assert a.device.type == DEVICE and torch.equal(a, b)
    assert [r.test_accuracy for r in resumed.history] == [r.test_accuracy
                                                          for r in straight.history]


def test_checkpoints_written_on_cuda_load_and_evaluate_anywhere(gpu_config, tmp_path):
    (result,) = train_many(replace(gpu_config, log_dir=str(tmp_path)))
    saved = load_checkpoint(result.run_dir, prefer=(LAST,))
    assert all(t.device.type == "cpu" for t in saved.model_state.values())
    model = build_model(saved)
    for a, b in zip(model.state_dict().values(), result.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b.cpu())
    on_gpu = evaluate_checkpoint(result.run_dir / LAST, gpu_config.data_dir, DEVICE)
    on_cpu = evaluate_checkpoint(result.run_dir / LAST, gpu_config.data_dir, "cpu")
    assert on_gpu.test.accuracy == on_cpu.test.accuracy == result.metrics.accuracy
    assert evaluate_main([str(result.run_dir), "--data-dir", gpu_config.data_dir,
                          "--device", DEVICE]) == 0


@pytest.mark.parametrize("engine", [[], ["--seeds", "2"]], ids=["reference", "engine"])
def test_the_train_command_on_cuda(engine, tiny_data, tmp_path, capsys):
    code = train_main(["--hidden", "8", "--epochs", "2", "--device", DEVICE, "--data-dir",
                       str(tiny_data), "--validation-size", "50", "--log-dir",
                       str(tmp_path), *engine])
    assert code == 0, capsys.readouterr().err
    assert "epoch   2" in capsys.readouterr().out


def test_models_of_a_cuda_engine_are_on_the_gpu_and_independent():
    engine, _ = stacked_epochs(DEVICE, random_digits(100), epochs=1)
    models = engine.models()
    assert all(p.device.type == DEVICE for m in models for p in m.parameters())
    before = copy.deepcopy(models[1].state_dict())
    with torch.no_grad():
        models[0].hidden.weight.zero_()
    assert all(torch.equal(a, b) for a, b in zip(before.values(),
                                                 models[1].state_dict().values(), strict=True))


def test_a_graph_is_not_replayed_on_other_targets():
    """The same images with other targets (or fewer of them: a slice starts at the same
    address) get a graph of their own, not the one captured on the first targets."""
    data = random_digits(1003)
    engines = {}
    for device in (DEVICE, "cpu"):
        torch.manual_seed(0)
        engine = Engine([MLP(5)], [0.5], "mse", device=device, dtype=torch.float64)
        images = data.images.to(device)
        one_hot = torch.nn.functional.one_hot(data.labels, 10).to(device, torch.float64)
        for targets in (one_hot, one_hot.flip(1), one_hot[:600]):
            engine.epoch(images[:len(targets)], targets, 10, [torch.Generator().manual_seed(1)])
        engines[device] = engine
    for ours, theirs in zip(weights(engines[DEVICE]), weights(engines["cpu"]), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


# --- the fused kernel (mnist_mlp/engine/fused/epoch.cu) -----------------------------------------


@pytest.fixture(scope="module")
def fused_kernel():
    """The kernel compiled by NVRTC and loaded on this GPU (its argument layout checked there),
    or the test skipped with the reason."""
    kernel = fused_device.kernel(torch.cuda.current_device())
    if kernel is None:
        pytest.skip(fused_device.unavailable_reason)
    return kernel


def fused_and_tensor_ops(models, lrs, loss, data, epochs=2, batch_size=10):
    """The fused kernel and the tensor operations on the GPU, from the same float32 weights and
    mini-batch orders: both engines and their mini-batch losses."""
    targets = torch.nn.functional.one_hot(data.labels, 10).to(DEVICE, torch.float32)
    images = data.images.to(DEVICE, torch.float32)
    result = []
    for fused in (True, False):
        engine = Engine(copy.deepcopy(models), lrs, loss, device=DEVICE, fused=fused,
                        cuda_graph=fused)
        losses = torch.cat([engine.epoch(images, targets, batch_size,
                                         [torch.Generator().manual_seed(10 * e + k)
                                          for k in range(len(models))])
                            for e in range(epochs)], dim=1)
        result += [engine, losses.cpu()]
    return result


def worst_relative_difference(a, b):
    return max(((getattr(a, n) - getattr(b, n)).abs().max() / getattr(b, n).abs().max()).item()
               for n in ("W1", "b1", "W2", "b2"))


@pytest.mark.parametrize(("hidden", "output", "loss"),
                         [(h, o, loss) for h in HIDDEN_ACTIVATIONS for o in OUTPUT_ACTIVATIONS
                          for loss in LOSSES])
def test_the_fused_kernel_equals_tensor_operations_on_the_gpu(fused_kernel, hidden, output,
                                                              loss):
    """K = 3 networks with their own η and orders, 202 steps (the last mini-batch of 3 in
    each epoch): the weights within 1e-5 of their size."""
    data = random_digits(1003, torch.float32, zeros=0.8)
    torch.manual_seed(0)
    models = [MLP(7, hidden, output, init="scaled_normal") for _ in range(3)]
    fused, fused_losses, ops, ops_losses = fused_and_tensor_ops(models, [0.02, 0.05, 0.1],
                                                                loss, data)
    assert fused.backend.name == "cuda-fused" and ops.backend.name == "tensor-ops"
    assert worst_relative_difference(fused, ops) <= 1e-5
    torch.testing.assert_close(fused_losses, ops_losses, rtol=5e-5, atol=0)


@pytest.mark.parametrize(("hidden", "in_shared_memory"), [(30, True), (100, False)])
def test_the_fused_kernel_at_l_30_and_100_on_the_gpu(fused_kernel, hidden, in_shared_memory):
    """W¹ in shared memory at l = 30 (94 KB), in global memory at l = 100 (313 KB)."""
    data = random_digits(1003, torch.float32, zeros=0.8)
    torch.manual_seed(0)
    models = [MLP(hidden) for _ in range(4)]
    fused, fused_losses, ops, ops_losses = fused_and_tensor_ops(
        models, [0.1, 0.5, 1.0, 3.0], "log_likelihood", data)
    assert fused.backend.plan(10).w1_shared == in_shared_memory
    assert worst_relative_difference(fused, ops) <= 1e-5
    torch.testing.assert_close(fused_losses, ops_losses, rtol=5e-5, atol=0)


def test_the_engine_on_cuda_is_fused_in_float32_only(fused_kernel, recwarn):
    assert Engine([MLP(5)], [0.1], "mse", device=DEVICE).backend.name == "cuda-fused"
    assert Engine([MLP(5)], [0.1], "mse", device=DEVICE,
                  dtype=torch.float64).backend.name == "cuda-graphs"
    assert not recwarn.list  # float64 on purpose: no warning


def test_a_mini_batch_too_large_for_the_kernel_falls_back_to_cuda_graphs(fused_kernel):
    data = random_digits(1003, torch.float32, zeros=0.8)
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="mini-batches of 1000 do not fit .* CUDA graphs"):
        fused, fused_losses, _, ops_losses = fused_and_tensor_ops(
            [MLP(30)], [0.5], "log_likelihood", data, epochs=1, batch_size=1000)
    assert fused.backend.fallback.name == "cuda-graphs"
    torch.testing.assert_close(fused_losses, ops_losses)


@pytest.fixture(scope="module")
def fused_config(tiny_data):
    return TrainConfig(hidden_size=12, epochs=2, device=DEVICE, data_dir=str(tiny_data),
                       validation_size=50, log_dir=None)


def test_fused_training_records_checkpoints_and_resumes_as_on_the_cpu(fused_kernel,
                                                                      fused_config, tmp_path):
    """train_many with the fused kernel: the CPU's weights and history, checkpoints that hold
    that history and evaluate alike, and the reference loop continues a network exactly as
    it continues one trained on the CPU."""
    config = replace(fused_config, log_dir=str(tmp_path / "gpu"))
    gpu = train_many(config, seeds=[0, 1], lrs=[0.5], fused=True)
    cpu = train_many(replace(config, device="cpu", log_dir=str(tmp_path / "cpu")),
                     seeds=[0, 1], lrs=[0.5])
    for ours, theirs in zip(gpu, cpu, strict=True):
        for a, b in zip(ours.model.state_dict().values(), theirs.model.state_dict().values(),
                        strict=True):
            torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-5)
        for a, b in zip(ours.history, theirs.history, strict=True):
            assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=0.011)
            assert a.minibatch_loss == pytest.approx(b.minibatch_loss, rel=1e-4)
        saved = load_checkpoint(ours.run_dir, prefer=(LAST,))
        assert saved.epoch == 2 and saved.records() == ours.history
        report = evaluate_checkpoint(ours.run_dir / LAST, fused_config.data_dir, "cpu")
        assert report.test.accuracy == ours.metrics.accuracy
    resumed = [train(resume_config(r.run_dir, epochs=3, device="cpu"), resume=r.run_dir)
               for r in (gpu[0], cpu[0])]
    for a, b in zip(resumed[0].model.state_dict().values(),
                    resumed[1].model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_fused_training_sees_divergence_as_the_cpu_does(fused_kernel, fused_config):
    diverging = replace(fused_config, loss="mse", output_activation="sigmoid",
                        activation="relu")
    with pytest.warns(UserWarning, match=r"the network with lr 1e\+30 and seed 0 diverged in "
                                         r"epoch 1 \(training loss (nan|inf)(, weights NaN or "
                                         r"infinite)?\)"):
        results = train_many(diverging, lrs=[0.5, 1e30], fused=True)
    assert torch.isfinite(torch.tensor(results[0].history[-1].train_loss))
    assert not torch.isfinite(torch.tensor(results[1].history[-1].train_loss))
    with pytest.raises(DivergenceError, match="smaller --lr"), pytest.warns(UserWarning):
        train_many(replace(diverging, lr=1e30), seeds=[0, 1], fused=True)


def reference_epochs(step, n: int, epochs: int = 2):
    """Two epochs of the reference loop on CUDA in float32 (l = 30, mini-batches of 10, the
    digits on the device), each step taken by ``step``: the model and its mini-batch losses."""
    data = random_digits(n, torch.float32).with_target_vectors().to(DEVICE)
    torch.manual_seed(0)
    model = MLP(30, "sigmoid", "softmax").to(DEVICE)
    loader = batches(data, 10, generator=torch.Generator().manual_seed(1), device=DEVICE)
    loss_fn = get_loss("binary_cross_entropy").fn
    losses = [train_epoch(model, loss_fn, loader, 0.5, step=step) for _ in range(epochs)]
    return model, torch.cat(losses)


@pytest.mark.parametrize("n", [1003, 1000], ids=["last batch smaller", "full batches"])
def test_the_captured_reference_step_equals_the_eager_one(n):
    """Every full mini-batch replayed from one CUDA graph (the last, of 3 digits, eager): after
    200 steps the weights, the mini-batch losses and the last step's gradients are those of
    the eager steps, to float32 rounding."""
    step = CapturedStep(10)
    captured, captured_losses = reference_epochs(step, n)
    eager, eager_losses = reference_epochs(sgd_step, n)
    assert step.graph is not None and not step.failed
    torch.testing.assert_close(captured_losses, eager_losses, rtol=1e-5, atol=1e-6)
    for (name, ours), theirs in zip(captured.named_parameters(), eager.parameters(),
                                    strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6, msg=name)
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-5, atol=1e-6,
                                   msg=f"the gradient of {name}")


def test_capturing_the_step_draws_no_random_number_and_keeps_the_weights():
    """The warm-up's steps are undone and the CPU's and the GPU's generators are left as they
    were: the first captured step gives what one eager step gives."""
    data = random_digits(10, torch.float32).with_target_vectors().to(DEVICE)
    x, y = data.images, data.labels
    torch.manual_seed(0)
    model = MLP(7).to(DEVICE)
    eager = copy.deepcopy(model)
    states = torch.get_rng_state(), torch.cuda.get_rng_state()
    loss = CapturedStep(10)(model, get_loss("mse").fn, x, y, 0.5)
    assert all(torch.equal(a, b) for a, b in zip(states, (torch.get_rng_state(),
                                                          torch.cuda.get_rng_state()),
                                                 strict=True))
    torch.testing.assert_close(loss, sgd_step(eager, get_loss("mse").fn, x, y, 0.5))
    for ours, theirs in zip(model.parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_auto_takes_the_gpu_and_the_first_line_says_so(engine, tiny_data, capsys):
    assert resolve_device("auto") == torch.device(DEVICE)
    code = train_main(["--engine", engine, "--hidden", "8", "--epochs", "1", "--data-dir",
                       str(tiny_data), "--validation-size", "50", "--log-dir", "", "--quiet"])
    first = capsys.readouterr().out.splitlines()[0]
    assert code == 0
    trainers = {"reference": ["reference loop, each step one CUDA graph"],
                "fast": ["fast engine (CUDA graphs)", "fast engine (fused CUDA kernel)"]}[engine]
    assert first.endswith(tuple(f" | {trainer} | device {DEVICE} (auto: a GPU is here)"
                                for trainer in trainers)), first
