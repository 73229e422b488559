"""The reference loop's step on a GPU: ``sgd_step``, unchanged, captured whole in a CUDA graph.

On a GPU a step of a mini-batch of 10 is a few dozen tiny kernels (forward, loss, autograd's
backward, the update), each launched from Python: launching them, not running them, sets the
pace. ``CapturedStep`` records the whole step once — ``textbook.sgd.sgd_step`` as the loop calls
it — in one CUDA graph, the idiom of ``torch.cuda.graphs`` ("whole network capture"), and then
replays it for every mini-batch: the batch is copied into the graph's static inputs, one call
replays every kernel. The graph runs the very kernels of the eager step, on the same numbers.

Only the loop's way of taking a step changes (``reference.train_epoch`` is given this object in
place of ``sgd_step``); the module, the loss, autograd and the ``DataLoader`` stay the same.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..textbook.sgd import sgd_step

WARMUP_STEPS = 3
"""Eager steps on a side stream before the capture, as ``torch.cuda.graphs`` asks (autograd and
cuBLAS set themselves up there, not in the graph); their changes to the weights are undone."""


class CapturedStep:
    """``sgd_step(model, loss_fn, x, y, lr)``, replayed from a CUDA graph for mini-batches of
    ``batch_size``; a mini-batch of another size (the last, smaller one of an epoch) takes the
    eager ``sgd_step``.

    The graph is captured at the first full mini-batch, and again only if the model, loss,
    learning rate or the batch's shape, dtype or device change. Capturing changes nothing the
    run keeps: the weights after the warm-up steps are put back, and no random number is drawn
    (the CPU and CUDA generators and the shuffling generator are left as they were), so that a
    resumed run continues exactly. If capture fails, every step is eager, with one warning.
    """

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.key: tuple | None = None
        self.failed = False
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_x = self.static_y = self.static_loss = None
        self.grads: list[Tensor] = []

    def __call__(self, model: nn.Module, loss_fn: Callable[..., Tensor], x: Tensor, y: Tensor,
                 lr: float) -> Tensor:
        """One SGD step on (x, y), as ``sgd_step``; returns the mini-batch's loss before it."""
        if self.failed or len(x) != self.batch_size or x.device.type != "cuda":
            return sgd_step(model, loss_fn, x, y, lr)
        key = (id(model), loss_fn, lr, x.shape, x.dtype, y.shape, y.dtype, x.device)
        if key != self.key:
            self._capture(model, loss_fn, x, y, lr)
            if self.failed:
                return sgd_step(model, loss_fn, x, y, lr)
            self.key = key
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        self.graph.replay()
        # an eager step in between (the last, smaller batch) gave the parameters gradients of
        # their own: point them back at the graph's, which hold this step's
        for parameter, grad in zip(model.parameters(), self.grads, strict=True):
            if parameter.grad is not grad:
                parameter.grad = grad
        return self.static_loss.clone()  # the next replay overwrites it

    def _capture(self, model: nn.Module, loss_fn: Callable[..., Tensor], x: Tensor, y: Tensor,
                 lr: float) -> None:
        """Warm up on a side stream, capture one ``sgd_step`` on static copies of (x, y), and put
        back the weights the warm-up changed."""
        saved = [p.detach().clone() for p in model.parameters()]
        self.static_x, self.static_y = x.clone(), y.clone()
        try:
            side = torch.cuda.Stream(device=x.device)
            side.wait_stream(torch.cuda.current_stream(x.device))
            with torch.cuda.stream(side):
                for _ in range(WARMUP_STEPS):
                    sgd_step(model, loss_fn, self.static_x, self.static_y, lr)
            torch.cuda.current_stream(x.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            # sgd_step sets the gradients to None first, so that backward allocates them in
            # the graph's private memory, where every replay writes them; captured on the
            # warm-up's stream, where cuBLAS has already set itself up
            with torch.cuda.graph(graph, stream=side):
                self.static_loss = sgd_step(model, loss_fn, self.static_x, self.static_y, lr)
            self.graph = graph
            self.grads = [p.grad for p in model.parameters()]
        except RuntimeError as error:  # pragma: no cover - depends on the CUDA setup
            warnings.warn(f"capturing the reference step in a CUDA graph failed ({error}); "
                          "its steps run eagerly", stacklevel=4)
            self.failed = True
        finally:
            torch.cuda.synchronize(x.device)  # the warm-up's steps are done, even after a failure
            with torch.no_grad():
                for parameter, value in zip(model.parameters(), saved, strict=True):
                    parameter.copy_(value)  # undo the warm-up's steps
