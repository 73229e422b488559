"""The engine's fused backend: every network's epoch in one launch of epoch.cu's kernel, its
arguments made and checked here for either *launcher*: ``device.DeviceKernel`` on a GPU,
``HostKernel`` of tests/fused_host.py on the CPU."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

import torch
from torch import Tensor

from ...data import DigitTensors, epoch_order
from ...textbook.model import INPUT_SIZE, NUM_CLASSES
from ..cuda_graphs import CudaGraphs
from ..native import (
    Functions,
    RowsKept,
    SparseRows,
    Stacked,
    check_tensors,
    each_network,
    expected_tensors,
)
from ..tensor_ops import TensorOps, say_instead
from . import source
from .source import FLOAT, Args

if TYPE_CHECKING:
    from ..stacked import Backend, Engine


class Launcher(Protocol):
    """Runs the kernel: ``DeviceKernel``, or the tests' ``HostKernel``."""

    max_shared_bytes: int
    max_threads: int

    def launch(self, args: Args, blocks: int, threads: int, shared_bytes: int) -> None:
        """One launch of ``blocks`` blocks of ``threads`` threads."""


class Plan(NamedTuple):
    """How a launch is laid out: W¹ in shared memory or in a global workspace, the shared
    memory a block takes and its threads."""

    w1_shared: bool
    shared_bytes: int
    threads: int


class Inputs(NamedTuple):
    """What one launch reads and writes (tensors on the engine's device)."""

    rows: SparseRows
    targets: Tensor       # (N, 10)
    order: Tensor         # (K, N) int32
    lrs: Tensor           # (K,)
    params: Stacked
    w1t: Tensor | None    # (K, 784, l) or None: W¹ in shared memory
    batch_losses: Tensor  # (K, steps)


def uncovered(engine: Engine) -> str | None:
    """Why the kernel cannot train ``engine``'s networks, or None when it can."""
    if engine.dtype != torch.float32:
        return f"the fused kernel trains in float32 only, not {engine.dtype}"
    return Functions.of(engine).missing(source.enums(), "the fused kernel")


def check(inputs: Inputs, device: torch.device) -> None:
    """The kernel trusts its pointers: refuse what does not fit before launching it."""
    params, f32 = inputs.params, torch.float32
    n, k, hidden = inputs.targets.shape[0], params.W1.shape[0], params.W1.shape[1]
    expected = {**expected_tensors(inputs.rows, n, params, k, f32),
                "targets": (inputs.targets, f32, (n, NUM_CLASSES)),
                "order": (inputs.order, torch.int32, (k, n)), "lrs": (inputs.lrs, f32, (k,)),
                "batch_losses": (inputs.batch_losses, f32, (k, inputs.batch_losses.shape[-1]))}
    if inputs.w1t is not None:
        expected["w1t"] = (inputs.w1t, f32, (k, INPUT_SIZE, hidden))
    check_tensors(expected, device, "the fused kernel")
    if n >= 2**31 or k >= 2**31:
        raise ValueError("the fused kernel takes fewer than 2³¹ images and networks")


def arguments(inputs: Inputs, f: Functions, batch_size: int) -> Args:
    """The kernel's argument struct for ``inputs``, once they are checked."""
    names, params = source.enums(), inputs.params
    pointers = {"row_start": inputs.rows.row_start, "pixel": inputs.rows.pixel,
                "value": inputs.rows.value, "targets": inputs.targets, "order": inputs.order,
                "lr": inputs.lrs, "batch_losses": inputs.batch_losses, **params._asdict()}
    return Args(n=inputs.targets.shape[0], l=params.W1.shape[1], m=batch_size,
                k=params.W1.shape[0], matched=int(f.matched),
                **{kind: names[kind][getattr(f, kind)] for kind in names},
                w1t=None if inputs.w1t is None else inputs.w1t.data_ptr(),
                **{name: t.data_ptr() for name, t in pointers.items()})


class FusedKernel:
    """Each epoch of all K networks as one launch: block k trains network k."""

    name = "cuda-fused"

    def __init__(self, engine: Engine, launcher: Launcher) -> None:
        self.engine, self.launcher = engine, launcher
        self.device = engine.W1.device
        self.sparse = RowsKept(1, self._on_device)  # the latest images only
        self.fallback: Backend | None = None

    def plan(self, batch_size: int) -> Plan | None:
        """W¹ in shared memory where the block's share of it holds all, else in a global
        workspace; None when even the rest does not fit (a mini-batch too large)."""
        hidden = self.engine.W1.shape[1]
        threads = source.threads_for(hidden, batch_size, self.launcher.max_threads)
        for w1_shared in (True, False):
            size = FLOAT * source.shared_floats(hidden, batch_size, w1_shared)
            if size <= self.launcher.max_shared_bytes:
                return Plan(w1_shared, size, threads)
        return None

    def _on_device(self, images: Tensor) -> SparseRows:
        """``images`` as float32 sparse rows on the device."""
        rows = SparseRows.of(images.detach().to("cpu", torch.float32))
        return SparseRows(*(t.to(self.device) for t in rows))

    def prepare(self, images: Tensor) -> None:
        """Read ``images`` as sparse rows now (out of any timing)."""
        self.sparse(images)

    def run(self, images: Tensor, targets: Tensor, generators: Sequence[torch.Generator],
            batch_size: int, batch_losses: Tensor) -> None:
        """See ``Backend.run``: one launch, the visiting orders drawn here first. Where the
        kernel cannot run (no case for a function, a mini-batch too large for a block's shared
        memory), the engine's other backend, said once."""
        plan = self.plan(batch_size)
        why = uncovered(self.engine) or ("" if plan else (
            f"mini-batches of {batch_size} do not fit the fused kernel's shared memory "
            f"({self.launcher.max_shared_bytes} bytes a block)"))
        if why or plan is None:
            if self.fallback is None:
                cuda = self.device.type == "cuda"
                say_instead(why, "CUDA graphs" if cuda else "tensor operations")
                self.fallback = CudaGraphs(self.engine) if cuda else TensorOps(self.engine)
            self.fallback.run(images, targets, generators, batch_size, batch_losses)
            return
        e = self.engine
        w1t = None if plan.w1_shared else torch.empty(e.size, INPUT_SIZE, e.W1.shape[1],
                                                      dtype=e.W1.dtype, device=self.device)
        inputs = Inputs(self.sparse(images), targets.contiguous(),
                        self.orders(images.shape[0], generators), e.lrs.view(-1),
                        e.parameters(), w1t, batch_losses)
        check(inputs, self.device)
        self.launcher.launch(arguments(inputs, Functions.of(e), batch_size), e.size, plan.threads,
                             plan.shared_bytes)

    def orders(self, n: int, generators: Sequence[torch.Generator]) -> Tensor:
        """Every network's visiting order this epoch as (K, n) int32 on the device: drawn on the
        CPU's threads (one after another they would take long for many networks), copied from
        pinned memory on CUDA."""
        cuda = self.device.type == "cuda"
        order = torch.empty(len(generators), n, dtype=torch.int32, pin_memory=cuda)
        each_network(len(generators), lambda k: order[k].copy_(epoch_order(n, generators[k])))
        return order.to(self.device, non_blocking=cuda)

    def evaluate(self, data: DigitTensors) -> tuple[Tensor, Tensor]:
        """See ``Backend.evaluate``: batched matrix products (on a GPU a small part of training)."""
        return self.engine.dense_evaluate(data)
