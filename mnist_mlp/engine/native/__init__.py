"""The engine's CPU loop: each network's epoch, or evaluation, one call into C (``epoch.c``), K
networks on the CPU's threads; ``build`` builds and loads it. docs/engine.md ("The compiled CPU
loop")."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from ...data import DigitTensors, epoch_order, steps_per_epoch
from ...textbook.model import INPUT_SIZE, NUM_CLASSES
from . import build
from .build import ENUMS, FLAG_SETS, REALS, compiler, describe, library, library_name

if TYPE_CHECKING:
    from ..stacked import Engine

__all__ = ["FLAG_SETS", "Functions", "NativeLoop", "SparseRows", "Stacked", "build", "c_loss",
           "compiler", "describe", "evaluate_networks", "library", "library_name",
           "train_epochs"]


class SparseRows(NamedTuple):
    """Images (N, 784) as lists of non-zero pixels (compressed sparse rows): image i has
    pixels ``pixel[row_start[i]:row_start[i + 1]]`` with values ``value[…]`` (the same slice)."""

    row_start: Tensor  # (N + 1,) int64
    pixel: Tensor  # (nnz,) int32
    value: Tensor  # (nnz,) the images' dtype

    @classmethod
    def of(cls, images: Tensor, chunk: int = 4096) -> SparseRows:
        # chunk by chunk: nonzero() of all 50,000 images at once would hold 16 bytes per
        # non-zero pixel (some 120 MB) for the 4 + 4 the rows keep
        pixels, values, counts = [], [], []
        for block in images.split(chunk):
            nonzero = block != 0
            counts.append(nonzero.sum(dim=1))
            pixels.append(nonzero.nonzero()[:, 1].to(torch.int32))
            values.append(block[nonzero])
        row_start = torch.zeros(images.shape[0] + 1, dtype=torch.int64)
        torch.cumsum(torch.cat(counts), dim=0, out=row_start[1:])
        return cls(row_start, torch.cat(pixels), torch.cat(values))


class RowsKept:
    """The sparse rows of the ``kept`` latest sets of images, each made by ``make`` once while its
    images do not change, and held with the images, so that no other tensor can be made at their
    address and find their rows."""

    def __init__(self, kept: int, make: Callable[[Tensor], SparseRows]) -> None:
        self.kept, self.make = kept, make
        self.rows: dict[tuple, tuple[Tensor, SparseRows]] = {}

    def __call__(self, images: Tensor) -> SparseRows:
        key = (images.data_ptr(), images._version, *images.shape, *images.stride(), images.dtype)
        if key not in self.rows:
            while len(self.rows) >= self.kept:
                del self.rows[next(iter(self.rows))]  # the oldest
            self.rows[key] = images, self.make(images)
        return self.rows[key][1]


class Functions(NamedTuple):
    """What the loop and the kernel compute, by their names: the activations, the loss (as
    ``c_loss`` names it), whether δ² = F − y (a matched output and loss)."""

    hidden: str
    output: str
    loss: str
    matched: bool

    @classmethod
    def of(cls, engine: Engine) -> Functions:
        """The engine's activations and loss."""
        output = engine.architecture["output_activation"]
        return cls(engine.architecture["activation"], output, c_loss(output, engine.loss_name),
                   engine.matched)

    def missing(self, names: Mapping[str, Collection[str]], where: str) -> str | None:
        """Why ``where``, with its tables of ``names`` by kind, cannot compute these functions:
        the first it has no case for (one added in Python only, say); None when it has all."""
        for kind, words in (("hidden", "hidden activation"), ("output", "output activation"),
                            ("loss", "loss")):
            if getattr(self, kind) not in names[kind]:
                return f"{where} has no {words} {getattr(self, kind)!r}"
        return None


def c_loss(output: str, loss: str) -> str:
    """The loss as epoch.c names it: the package's name, but (35) and the log-likelihood of a
    softmax output are losses of their own there (``*_of_softmax``, as the textbook's functions
    of z), taken in log space."""
    if output == "softmax" and loss in ("binary_cross_entropy", "log_likelihood"):
        return f"{loss}_of_softmax"
    return loss


class Stacked(NamedTuple):
    """The parameters of K networks, stacked, or their gradients: W1 (K, l, 784), b1 (K, 1, l),
    W2 (K, 10, l), b2 (K, 1, 10)."""

    W1: Tensor
    b1: Tensor
    W2: Tensor
    b2: Tensor


def check_tensors(expected: Mapping[str, tuple[Tensor, torch.dtype, Sequence[int] | None]],
                  device: torch.device, who: str) -> None:
    """C trusts its pointers: refuse (ValueError) any tensor, by name, that is not contiguous on
    ``device`` with its dtype and (unless None) shape, before ``who`` sees it."""
    for name, (tensor, dtype, shape) in expected.items():
        if not (tensor.is_contiguous() and tensor.device == device and tensor.dtype == dtype
                and (shape is None or tuple(tensor.shape) == tuple(shape))):
            raise ValueError(f"{who} got an unfit {name}: {tuple(tensor.shape)} "
                             f"{tensor.dtype} on {tensor.device}")


def expected_tensors(rows: SparseRows, n: int, params: Stacked, k: int,
                     real: torch.dtype) -> dict[str, tuple[Tensor, torch.dtype, tuple]]:
    """The n images and K networks the loop and the kernel read, with the dtype and shape each
    must have (``check_tensors``)."""
    hidden = params.W1.shape[-2]
    return {"row_start": (rows.row_start, torch.int64, (n + 1,)),
            "pixel": (rows.pixel, torch.int32, tuple(rows.value.shape)),
            "value": (rows.value, real, tuple(rows.pixel.shape)),
            "W1": (params.W1, real, (k, hidden, INPUT_SIZE)),
            "b1": (params.b1, real, (k, 1, hidden)),
            "W2": (params.W2, real, (k, NUM_CLASSES, hidden)),
            "b2": (params.b2, real, (k, 1, NUM_CLASSES))}


def _check(rows: SparseRows, n: int, params: Stacked, more: dict[str, tuple], k: int) -> None:
    """Refuse what does not fit the loop before calling it; ``more``: its other tensors."""
    real = rows.value.dtype
    check_tensors({**expected_tensors(rows, n, params, k, real), **more},
                  torch.device("cpu"), "the native loop")
    if real not in REALS or rows.row_start[-1] != rows.pixel.numel():
        raise ValueError("the native loop got an unfit dtype or sparse rows")


def _at(t: Tensor, network: int) -> int:
    """The address of network ``network``'s slice of a stacked tensor."""
    return t.data_ptr() + network * t.stride(0) * t.element_size()


def _common(lib: build.LoopLibrary, rows: SparseRows, functions: Functions, params: Stacked,
            network: int) -> dict[str, object]:
    """The fields both of epoch.c's structs share, for one network."""
    return dict(l=params.W1.shape[-2], row_start=rows.row_start.data_ptr(),
                pixel=rows.pixel.data_ptr(), value=rows.value.data_ptr(),
                **{kind: lib.enums[kind][getattr(functions, kind)] for kind in ENUMS},
                **{name: _at(t, network) for name, t in params._asdict().items()})


def _call(function: Callable[[object], int], args: ctypes.Structure) -> None:
    """``function(&args)`` of epoch.c, which answers non-zero when it cannot allocate its scratch
    memory."""
    if function(ctypes.byref(args)) != 0:
        raise MemoryError("the native loop could not allocate its scratch memory")


def each_network(k: int, one: Callable[[int], object]) -> list[object]:
    """``one(network)`` for networks 0 … k − 1, on up to ``torch.get_num_threads()`` threads,
    started for this call: threads kept between calls would keep what torch made for them
    (``one`` draws its epoch's order), which was measured to slow torch's later operations."""
    workers = min(k, torch.get_num_threads())
    if workers == 1:
        return [one(network) for network in range(k)]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(k)))


def train_epochs(lib: build.LoopLibrary, rows: SparseRows, targets: Tensor,
                 generators: Sequence[torch.Generator], batch_size: int, lrs: list[float],
                 functions: Functions, params: Stacked, batch_losses: Tensor) -> None:
    """One epoch of each of K networks in place (``params`` contiguous, ``lrs[k]``), network k in
    the order ``epoch_order(N, generators[k])``, drawn in its thread; the mean loss of each of
    its mini-batches into ``batch_losses[k]`` (steps,)."""
    k, n = len(lrs), targets.shape[0]
    steps = steps_per_epoch(n, batch_size)
    real = rows.value.dtype
    _check(rows, n, params, {"targets": (targets, real, (n, NUM_CLASSES)),
                             "batch_losses": (batch_losses, real, (k, steps))}, k)

    def one(network: int) -> None:
        order = epoch_order(n, generators[network])
        _call(lib.train_epoch, lib.args_type(
            n=n, m=batch_size, order=order.data_ptr(), lr=lrs[network],
            matched=int(functions.matched), batch_losses=_at(batch_losses, network),
            targets=targets.data_ptr(), **_common(lib, rows, functions, params, network)))

    each_network(k, one)


def evaluate_networks(lib: build.LoopLibrary, rows: SparseRows, labels: Tensor,
                      functions: Functions, params: Stacked) -> tuple[Tensor, Tensor]:
    """The loss summed over the images (K,) float64 and the confusion matrix (K, 10, 10) of each
    of K networks on the images of ``rows``, whose digits are ``labels`` (N,) (and targets their
    one-hot vectors)."""
    k = params.W1.shape[0]
    loss_sums = torch.zeros(k, dtype=torch.float64)
    confusions = torch.zeros(k, NUM_CLASSES, NUM_CLASSES, dtype=torch.int64)
    _check(rows, labels.shape[0], params, {"labels": (labels, torch.int64, (labels.shape[0],))}, k)
    if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < NUM_CLASSES:
        raise ValueError("the native loop got labels outside 0…9")

    def one(network: int) -> None:
        _call(lib.evaluate, lib.eval_args_type(
            n=labels.shape[0], labels=labels.data_ptr(), loss_sum=_at(loss_sums, network),
            confusion=_at(confusions, network),
            **_common(lib, rows, functions, params, network)))

    each_network(k, one)
    return loss_sums, confusions


KEPT = 4  # sets of images whose sparse rows the CPU loop keeps


class NativeLoop:
    """The engine's CPU backend: each network's epoch, and its evaluation, is one call of the
    compiled loop."""

    name = "native"

    def __init__(self, engine: Engine, lib: build.LoopLibrary) -> None:
        self.engine, self.lib = engine, lib
        # a run's three splits, and one more
        self.sparse = RowsKept(KEPT, lambda images: SparseRows.of(images.to(engine.dtype)))

    def prepare(self, images: Tensor) -> None:
        """Read ``images`` as sparse rows now (out of any timing)."""
        self.sparse(images)

    def run(self, images: Tensor, targets: Tensor, generators: Sequence[torch.Generator],
            batch_size: int, batch_losses: Tensor) -> None:
        """See ``Backend.run``."""
        train_epochs(self.lib, self.sparse(images), targets.contiguous(), generators,
                     batch_size, self.engine.lrs.view(-1).tolist(), Functions.of(self.engine),
                     self.engine.parameters(), batch_losses)

    def evaluate(self, data: DigitTensors) -> tuple[Tensor, Tensor]:
        """See ``Backend.evaluate``."""
        loss_sums, confusions = evaluate_networks(
            self.lib, self.sparse(data.images), data.labels.contiguous(),
            Functions.of(self.engine), self.engine.parameters())
        return loss_sums / len(data), confusions
