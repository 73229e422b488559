"""On a GPU: the lab's reproduction, claims, benchmark and costs run with ``--device cuda``
(the fused kernel timed beside the CUDA graphs where it can be built). Each test is skipped where
CUDA is absent. The engine and the library's commands on CUDA: tests/test_cuda.py."""

import json
from pathlib import Path

import pytest
import torch
from helpers import needs_cuda

from mnist_mlp.engine.fused import device as fused_device
from mnist_mlp_lab.claim_settings import ClaimSettings
from mnist_mlp_lab.claims import run_claims
from mnist_mlp_lab.commands.bench import main as bench_main
from mnist_mlp_lab.configurations import Settings
from mnist_mlp_lab.costs import evaluation_cost, peak_memory
from mnist_mlp_lab.reproduce import reproduce

DEVICE = "cuda"
ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs_cuda


@pytest.fixture(scope="module")
def fused_kernel():
    """The kernel compiled by NVRTC and loaded on this GPU, or the test skipped with the
    reason."""
    kernel = fused_device.kernel(torch.cuda.current_device())
    if kernel is None:
        pytest.skip(fused_device.unavailable_reason)
    return kernel


def test_the_reproduction_on_cuda(tiny_data, tmp_path):
    settings = Settings(seeds=2, epochs=2, train_size=200, validation_size=50,
                        data_dir=str(tiny_data), device=DEVICE, only=("l30-softmax",),
                        log_dir=str(tmp_path))
    result = reproduce(settings)
    (configuration,) = result.results
    assert len(configuration.runs) == 2
    assert all(len(run.history) == 2 for run in configuration.runs)


def test_the_benchmark_on_cuda(tiny_data, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench_main(["--data-dir", str(tiny_data), "--hidden", "4", "--networks", "2",
                       "--device", DEVICE, "--warmup", "10", "--repeat", "1",
                       "--json", str(out)]) == 0
    devices = {t["device"] for t in json.loads(out.read_text())["timings"]}
    assert devices == {DEVICE}
    assert f"| {DEVICE} | 4 | engine | 2 |" in capsys.readouterr().out


def test_what_a_sweep_costs_on_cuda(tiny_data):
    cost = evaluation_cost(str(tiny_data), 8, networks=2, validation_size=50, device=DEVICE)
    assert cost.training > 0 and cost.evaluation > 0
    assert 0 < peak_memory(2, 8, str(tiny_data), validation_size=50, device=DEVICE) < 2e9


def test_the_claims_on_cuda(tiny_data):
    """The chapter's claims, measured on the GPU: every sweep (the learning rates with one that
    diverges, the hidden sizes, batches of 1 to 100) and the derivation checks."""
    settings = ClaimSettings(seeds=2, epochs=2, train_size=200, validation_size=50,
                             lrs=(0.01, 0.5, 100.0), hidden_sizes=(10, 30),
                             batch_sizes=(1, 10, 100), updates=20, data_dir=str(tiny_data),
                             device=DEVICE, reproduction=str(ROOT / "results/reproduction.json"))
    claims = run_claims(settings, lambda line: None, "python scripts/claims.py")
    assert [p.value for p in claims.learning_rate] == [0.01, 0.5, 100.0]
    assert all(len(p.final) == 2 for p in claims.hidden_size + claims.batch_size.epochs)
    assert [p.updates for p in claims.batch_size.updates] == [20, 20, 20]
    assert claims.derivation.bias["line 3 corrected, Σᵢ[F_j − y_ij]"] < 1e-12


def test_the_benchmark_times_the_fused_kernel_beside_the_cuda_graphs(fused_kernel, tiny_data,
                                                                     tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench_main(["--data-dir", str(tiny_data), "--hidden", "4", "--networks", "2",
                       "--device", DEVICE, "--warmup", "10", "--repeat", "1",
                       "--json", str(out)]) == 0
    methods = {t["method"] for t in json.loads(out.read_text())["timings"]}
    assert {"engine", "engine-fused"} <= methods
    printed = capsys.readouterr().out
    assert "fused kernel: NVRTC" in printed and f"| {DEVICE} | 4 | engine-fused | 2 |" in printed
