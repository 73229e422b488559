"""The engine's fused CUDA kernel (``mnist_mlp/engine/fused/epoch.cu``), on a CPU: NVRTC compiles
it for an H100 or H200 (sm_90), and the same source built for the host gives the numbers of the
engine's tensor operations for every activation and loss. (On a GPU: tests/test_cuda.py.)"""

import copy
import sys

import fused_host as host
import pytest
import torch
from helpers import add_in_python_only, needs_compiler, random_digits

from mnist_mlp import MLP
from mnist_mlp.engine import Engine, native
from mnist_mlp.engine.fused import FusedKernel, device, source, uncovered
from mnist_mlp.engine.fused.backend import Inputs, check
from mnist_mlp.textbook.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from mnist_mlp.textbook.losses import LOG_FLOOR, LOSSES


def nvrtc_version():
    try:
        from cuda.bindings import nvrtc
        return nvrtc.nvrtcVersion()
    except (ImportError, RuntimeError):  # not installed, or its library missing
        return None


needs_nvrtc = pytest.mark.skipif(nvrtc_version() is None,
                                 reason="cuda.bindings.nvrtc is not installed here")
COMBINATIONS = [(h, o, loss) for h in HIDDEN_ACTIVATIONS for o in OUTPUT_ACTIVATIONS
                for loss in LOSSES]
WEIGHTS = ("W1", "b1", "W2", "b2")


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    """An empty private cache folder for what is built."""
    monkeypatch.setenv("MNIST_MLP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(native.build, "_private", None)
    return tmp_path / "cache"


def engines(models, lrs, loss, launcher, dtype=torch.float32):
    """Two engines on the same networks: the tensor operations, and the kernel's host build."""
    models = [m.to(dtype) for m in models]
    ops = Engine(copy.deepcopy(models), lrs, loss, dtype=dtype, native=False)
    fused = Engine(copy.deepcopy(models), lrs, loss, native=False)
    fused.backend = FusedKernel(fused, launcher)
    return ops, fused


def train(engine, data, epochs, batch_size=10):
    """``epochs`` epochs (network k shuffled by seed 10·epoch + k); the mini-batch losses."""
    targets = torch.nn.functional.one_hot(data.labels, 10).to(engine.dtype)
    return torch.cat([engine.epoch(data.images.to(engine.dtype), targets, batch_size,
                                   [torch.Generator().manual_seed(10 * epoch + k)
                                    for k in range(engine.size)])
                      for epoch in range(epochs)], dim=1)


def relative_difference(a: Engine, b: Engine) -> dict[str, float]:
    """max |a − b| / max |b| of each stacked parameter."""
    return {name: ((getattr(a, name).double() - getattr(b, name).double()).abs().max()
                   / getattr(b, name).double().abs().max()).item() for name in WEIGHTS}


@needs_nvrtc
def test_nvrtc_compiles_the_kernel_for_sm_90_once(fresh_cache, monkeypatch):
    image = device.cubin(90)
    assert image.startswith(b"\x7fELF") and len(image) > 10_000
    assert [p.suffix for p in fresh_cache.iterdir()] == [".cubin"]
    monkeypatch.setattr(device, "_compile", lambda options: pytest.fail("compiled again"))
    assert device.cubin(90) == image  # from the cache


@needs_nvrtc
def test_a_kernel_nvrtc_cannot_compile_says_why_and_leaves_nothing(fresh_cache, monkeypatch):
    broken = {**source.texts(), "phases.h": b"this is not C\n"}
    monkeypatch.setattr(source, "texts", lambda: dict(broken))
    with pytest.raises(device.KernelError,
                       match=r"NVRTC could not compile epoch.cu: phases.h\(1\): error: .*; "
                             r"\d+ errors detected"):
        device.cubin(90)
    with pytest.raises(device.KernelError, match=r"cannot compile for sm_1$"):
        device.cubin(1)
    assert not list(fresh_cache.iterdir())


def test_without_cuda_bindings_the_kernel_is_unavailable_and_says_why(monkeypatch):
    monkeypatch.setitem(sys.modules, "cuda.bindings.nvrtc", None)  # import fails
    device.kernel.cache_clear()
    try:
        assert device.kernel(0) is None
        assert "needs cuda.bindings" in device.unavailable_reason
        monkeypatch.setenv("MNIST_MLP_FUSED", "0")
        device.kernel.cache_clear()
        assert device.kernel(0) is None and "MNIST_MLP_FUSED=0" in device.unavailable_reason
    finally:
        device.kernel.cache_clear()


def test_the_fused_kernel_is_for_cuda_and_float32():
    with pytest.raises(ValueError, match="CUDA only"):
        Engine([MLP(3)], [0.1], "mse", fused=True)
    with pytest.raises(RuntimeError, match="CUDA only"):
        Engine([MLP(3)], [0.1], "mse", device="meta", fused=True)
    assert Engine([MLP(3)], [0.1], "mse", device="meta").backend.name == "tensor-ops"
    assert "float32 only" in uncovered(Engine([MLP(3)], [0.1], "mse", dtype=torch.float64))
    assert uncovered(Engine([MLP(3)], [0.1], "mse")) is None


@pytest.mark.parametrize("shared", native.build.HEADERS, ids=lambda path: path.name)
def test_the_headers_both_builds_include_are_in_their_cached_names(tmp_path, monkeypatch,
                                                                    shared):
    """native/kinds.h and native/per_sample.h, the enums and one sample's functions for the CPU
    loop and the kernel, are part of the digest each is cached under: a changed header is built
    again, never an old build loaded; and the kernel hands it to NVRTC under the name epoch.cu
    includes."""
    assert f'#include "{shared.name}"' in source.SOURCE.read_text()
    assert source.texts()[shared.name] == shared.read_bytes()
    before = native.library_name("cc", ("-O3",), "float"), source.digest("nvrtc")
    header = tmp_path / shared.name
    header.write_bytes(shared.read_bytes() + b"/* changed */\n")
    swap = {shared: header}
    monkeypatch.setattr(native.build, "HEADERS", tuple(swap.get(h, h) for h in
                                                       native.build.HEADERS))
    monkeypatch.setattr(source, "HEADERS", tuple(swap.get(h, h) for h in source.HEADERS))
    after = native.library_name("cc", ("-O3",), "float"), source.digest("nvrtc")
    assert before[0] != after[0] and before[1] != after[1]


def test_the_kernel_tables_name_every_activation_and_loss(monkeypatch):
    """The enums the Python caller reads from epoch.cu's text are the host build's, and cover
    the package's names (its losses: as ``c_loss`` names them, epoch.c's); a name the kernel
    lacks is a reason not to use it."""
    names = source.enums()
    assert set(names["hidden"]) == set(HIDDEN_ACTIVATIONS)
    assert set(names["output"]) == set(OUTPUT_ACTIVATIONS)
    assert set(names["loss"]) == {native.c_loss(output, loss) for output in OUTPUT_ACTIVATIONS
                                  for loss in LOSSES}
    if native.compiler():
        assert host.library().enums == names
    assert f"#define MAX_THREADS {source.MAX_THREADS}\n" in source.SOURCE.read_text()
    assert f"#define LOG_FLOOR ({LOG_FLOOR}f)\n" in source.SOURCE.read_text()
    monkeypatch.setattr(source, "enums", lambda: {**names, "loss": {"mse": 0}})
    assert uncovered(Engine([MLP(3)], [0.1], "mae")) == "the fused kernel has no loss 'mae'"


@needs_compiler
@pytest.mark.parametrize(("hidden", "batch_size"), [(1, 1), (7, 10), (30, 10), (100, 100)])
def test_the_shared_memory_a_block_needs_is_counted_alike(hidden, batch_size):
    lib = host.library()  # its struct layout was checked as it loaded
    for w1_shared in (True, False):
        assert lib.shared_floats(hidden, batch_size, w1_shared) == source.shared_floats(
            hidden, batch_size, w1_shared)
    assert 4 * source.shared_floats(30, 10, True) <= host.H100_SHARED_BYTES
    assert 4 * source.shared_floats(100, 10, True) > host.H100_SHARED_BYTES


@needs_compiler
@pytest.mark.parametrize(("hidden", "output", "loss"), COMBINATIONS)
def test_the_kernel_equals_tensor_operations(hidden, output, loss):
    """K = 3 networks with their own η and orders, 202 steps (1,003 digits, the last
    mini-batch of 3, two epochs): the weights within float32 rounding, 1e-5 of their size."""
    data = random_digits(1003, torch.float32, zeros=0.8)
    torch.manual_seed(0)
    models = [MLP(7, hidden, output, init="scaled_normal") for _ in range(3)]
    ops, fused = engines(models, [0.02, 0.05, 0.1], loss, host.HostKernel(threads=64))
    ops_losses, fused_losses = train(ops, data, 2), train(fused, data, 2)
    assert max(relative_difference(fused, ops).values()) <= 1e-5
    torch.testing.assert_close(fused_losses, ops_losses, rtol=5e-5, atol=0)


@needs_compiler
def test_the_threads_of_a_block_and_their_order_change_no_number():
    """Every item of a phase is one thread's whole computation, and no thread of a phase reads
    what another writes: any number of threads, in any order, gives the same bits."""
    data = random_digits(203, torch.float32, zeros=0.8)
    torch.manual_seed(0)
    models = [MLP(9, "tanh", "softmax", init="normal") for _ in range(2)]
    results = []
    for threads, reverse in [(1, False), (7, True), (64, False), (64, True), (512, True)]:
        _, fused = engines(models, [0.1, 0.5], "binary_cross_entropy",
                           host.HostKernel(threads, reverse))
        results.append([train(fused, data, 1)] + [getattr(fused, n) for n in WEIGHTS])
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other, strict=True))


@needs_compiler
def test_w1_in_global_memory_gives_the_same_numbers():
    data = random_digits(103, torch.float32, zeros=0.8)
    torch.manual_seed(0)
    models = [MLP(7, "sigmoid", "sigmoid", init="normal") for _ in range(2)]
    _, shared = engines(models, [0.1, 0.5], "mse", host.HostKernel())
    small = 4 * source.shared_floats(7, 10, False)  # all but W¹ fits
    _, spilled = engines(models, [0.1, 0.5], "mse", host.HostKernel(max_shared_bytes=small))
    assert shared.backend.plan(10).w1_shared and not spilled.backend.plan(10).w1_shared
    assert torch.equal(train(shared, data, 1), train(spilled, data, 1))
    assert all(torch.equal(getattr(shared, n), getattr(spilled, n)) for n in WEIGHTS)


@needs_compiler
def test_at_l_100_w1_is_not_in_shared_memory_and_the_numbers_are_the_same():
    """At l = 100, W¹ (313 KB) exceeds an H100's or H200's shared memory for a block (227 KB):
    it stays in global memory, with the same arithmetic."""
    data = random_digits(1003, torch.float32, zeros=0.8)
    torch.manual_seed(0)
    models = [MLP(100, "sigmoid", "softmax") for _ in range(2)]
    ops, fused = engines(models, [0.1, 0.5], "log_likelihood", host.HostKernel())
    assert not fused.backend.plan(10).w1_shared
    ops_losses, fused_losses = train(ops, data, 2), train(fused, data, 2)
    assert max(relative_difference(fused, ops).values()) <= 1e-5
    torch.testing.assert_close(fused_losses, ops_losses, rtol=5e-5, atol=0)


def saturated_network(hidden=300):
    """A network of N(0, 1) weights (Nielsen's first initialisation) with l large enough for a
    softmax output to saturate."""
    torch.manual_seed(0)
    return MLP(hidden, "sigmoid", "softmax", init="normal")


@needs_compiler
def test_softmax_and_35_at_a_saturated_output_equal_float64():
    """Two steps from a network where a wrong output's 1 − F is below float32's resolution
    (F rounds to 1): the kernel's float32 steps equal float64 tensor operations to float32's
    rounding of such a forward pass (z² of size 100 rounds to 1e-5 of F). Written as
    h_k − F_k Σ_j h_j, δ would be the difference of two numbers of size 1/(1 − F): in float32,
    off by percents."""
    data = random_digits(20, torch.float32, zeros=0.8)
    model = saturated_network()
    with torch.no_grad():
        F = copy.deepcopy(model).double()(data.images.double())
    wrong = torch.nn.functional.one_hot(data.labels, 10) == 0
    assert (1 - F)[wrong].min() < 1e-7, "the premise: a wrong output saturated"
    exact, fused = engines([model], [3.0], "binary_cross_entropy", host.HostKernel(),
                           dtype=torch.float64)
    exact_loss, fused_loss = train(exact, data, 1), train(fused, data, 1)
    assert max(relative_difference(fused, exact).values()) <= 1e-4
    torch.testing.assert_close(fused_loss.double(), exact_loss, rtol=1e-4, atol=0)


@needs_compiler
def test_softmax_and_35_stay_finite_where_outputs_fall_below_float32():
    """Two epochs at η = 3 from N(0, 1) weights drive outputs far below 1e-38 (float64 run, the
    premise); the kernel's weights and losses stay finite (no 1/F formed)."""
    data = random_digits(200, torch.float32, zeros=0.8)
    exact, fused = engines([saturated_network()], [3.0], "binary_cross_entropy",
                           host.HostKernel(), dtype=torch.float64)
    train(exact, data, 2)
    with torch.no_grad():
        F = exact.models()[0](data.images.double())
    assert (F < 1e-38).any(), "the premise: outputs below float32's normal range"
    losses = train(fused, data, 2)
    assert torch.isfinite(losses).all()
    assert all(torch.isfinite(getattr(fused, n)).all() for n in WEIGHTS)


@needs_compiler
@pytest.mark.parametrize(("output", "loss"), [(o, loss) for o in OUTPUT_ACTIVATIONS
                                              for loss in LOSSES])
def test_a_nan_weight_gives_nan_losses(output, loss):
    """A network gone NaN is seen: its mini-batch losses are NaN (the clamped logarithm lets NaN
    through), while a healthy one beside it trains on."""
    data = random_digits(30, torch.float32, zeros=0.8)
    torch.manual_seed(0)
    models = [MLP(5, "sigmoid", output) for _ in range(2)]
    with torch.no_grad():
        models[1].output.bias[3] = float("nan")
    _, fused = engines(models, [0.1, 0.1], loss, host.HostKernel())
    losses = train(fused, data, 1)
    assert torch.isfinite(losses[0]).all() and torch.isnan(losses[1]).all()


@needs_compiler
def test_a_mini_batch_too_large_for_shared_memory_falls_back_with_one_warning():
    data = random_digits(60, torch.float32, zeros=0.8)
    torch.manual_seed(0)
    models = [MLP(6) for _ in range(2)]
    limit = 4 * source.shared_floats(6, 10, False)  # fits mini-batches of 10, not of 30
    ops, fused = engines(models, [0.1, 0.5], "log_likelihood",
                         host.HostKernel(max_shared_bytes=limit))
    with pytest.warns(UserWarning, match="mini-batches of 30 do not fit .* uses tensor operations"):
        fused_losses = train(fused, data, 2, batch_size=30)
    assert fused.backend.fallback.name == "tensor-ops"
    torch.testing.assert_close(fused_losses, train(ops, data, 2, batch_size=30))


@needs_compiler
@pytest.mark.parametrize(("activation", "loss", "missing"), [
    ("softplus", "mse", "hidden activation 'softplus'"), ("tanh", "huber", "loss 'huber'")])
def test_a_function_added_in_python_only_falls_back_with_one_warning(monkeypatch, activation,
                                                                      loss, missing):
    """An activation or a loss the kernel has no case for: the engine never picks the kernel
    (``uncovered`` says why), and a kernel given such networks all the same warns once and
    trains them on the tensor operations."""
    add_in_python_only(monkeypatch)
    data = random_digits(60, torch.float32, zeros=0.8)
    torch.manual_seed(0)
    models = [MLP(6, activation, "sigmoid") for _ in range(2)]
    ops, fused = engines(models, [0.1, 0.5], loss, host.HostKernel())
    assert uncovered(fused) == f"the fused kernel has no {missing}"
    with pytest.warns(UserWarning) as caught:
        fused_losses = train(fused, data, 2)
    assert [str(w.message) for w in caught] == [
        f"the fused kernel has no {missing}; the engine uses tensor operations instead (slower)"]
    assert fused.backend.fallback.name == "tensor-ops"
    torch.testing.assert_close(fused_losses, train(ops, data, 2))


@needs_compiler
def test_unfit_tensors_are_refused_before_the_kernel_sees_them():
    data = random_digits(20, torch.float32, zeros=0.8)
    rows = native.SparseRows.of(data.images)
    k, hidden = 2, 5
    params = native.Stacked(torch.zeros(k, hidden, 784), torch.zeros(k, 1, hidden),
                            torch.zeros(k, 10, hidden), torch.zeros(k, 1, 10))
    fit = Inputs(rows, torch.zeros(20, 10), torch.zeros(k, 20, dtype=torch.int32),
                 torch.ones(k), params, None, torch.zeros(k, 2))
    cpu = torch.device("cpu")
    check(fit, cpu)
    for change in ({"targets": torch.zeros(19, 10)}, {"order": fit.order.long()},
                   {"lrs": torch.ones(k, dtype=torch.float64)},
                   {"params": params._replace(W1=torch.zeros(k, 784, hidden).mT)},
                   {"params": params._replace(b2=torch.zeros(k, 10))},
                   {"w1t": torch.zeros(k, hidden, 784)}, {"batch_losses": torch.zeros(k + 1, 2)}):
        with pytest.raises(ValueError, match="fused kernel got an unfit"):
            check(fit._replace(**change), cpu)
    with pytest.raises(ValueError, match="fused kernel got an unfit"):
        check(fit, torch.device("meta"))
