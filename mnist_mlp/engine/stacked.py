"""The K stacked networks of the engine: their parameters, the SGD step (the gradients, then the
update), evaluation, and which backend runs their epochs (docs/engine.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor

from ..data import DigitTensors, steps_per_epoch
from ..textbook.backprop import MATCHED_PAIRS, output_error
from ..textbook.losses import network_loss
from ..textbook.metrics import confusion_matrices
from ..textbook.model import MLP, NUM_CLASSES
from . import fused as fused_kernel
from . import native as native_loop
from .cuda_graphs import CudaGraphs
from .fused import FusedKernel
from .native import Functions, NativeLoop, Stacked
from .tensor_ops import TensorOps, say_instead

__all__ = ["Backend", "Engine"]


class Backend(Protocol):
    """How the engine runs an epoch and an evaluation (docs/engine.md, "Backends")."""

    name: str

    def prepare(self, images: Tensor) -> None:
        """Get ready to train on ``images`` (made once, outside any timing)."""

    def run(self, images: Tensor, targets: Tensor, generators: Sequence[torch.Generator],
            batch_size: int, batch_losses: Tensor) -> None:
        """Every network's epoch over ``images`` in place, network k in the order
        ``epoch_order(N, generators[k])``; each mini-batch's mean loss (before its step) into
        ``batch_losses[k]``."""

    def evaluate(self, data: DigitTensors) -> tuple[Tensor, Tensor]:
        """Every network's mean loss (K,) and confusion matrix (K, 10, 10) on ``data``."""


class Engine:
    """K networks of one architecture with stacked parameters, trained by mini-batch SGD at
    once."""

    def __init__(self, models: Sequence[MLP], lrs: Sequence[float], loss: str,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 cuda_graph: bool = True, native: bool | None = None,
                 fused: bool | None = None) -> None:
        """``native`` (on a CPU: the compiled loop) and ``fused`` (on CUDA in float32: the fused
        kernel): True requires it, None uses it where it can run (else warns and falls back),
        False never. ``cuda_graph=False``: on CUDA, tensor operations step by step (and no
        fused kernel unless ``fused=True``). float64 runs on the tensor-operation backends."""
        if not models or len(models) != len(lrs):
            raise ValueError("give one learning rate per model, and at least one model")
        if len({(m.hidden_size, m.activation_name, m.output_activation_name)
                for m in models}) != 1:
            raise ValueError("all models of an Engine must have the same architecture")
        first = models[0]
        self.architecture = first.architecture()
        self.activation = type(first.activation)()
        self.output_activation = type(first.output_activation)()
        self.loss_name = loss
        self.network_loss = network_loss(loss, self.output_activation)  # ℓ(ψ(z), y) from z
        self.matched = (type(self.output_activation), loss) in MATCHED_PAIRS  # δ² = F − y
        self.device, self.dtype = torch.device(device), dtype
        self.lrs = torch.tensor([float(lr) for lr in lrs], dtype=dtype,  # η of each network
                                device=self.device).view(-1, 1, 1)

        def stack(get: Callable[[MLP], Tensor]) -> Tensor:
            return torch.stack([get(m).detach() for m in models]).to(self.device, dtype)

        self.W1 = stack(lambda m: m.hidden.weight)
        self.b1 = stack(lambda m: m.hidden.bias.unsqueeze(0))
        self.W2 = stack(lambda m: m.output.weight)
        self.b2 = stack(lambda m: m.output.bias.unsqueeze(0))
        self.backend: Backend = self._backend(cuda_graph, native, fused)
        self._models: list[MLP] = []

    def _backend(self, cuda_graph: bool, native: bool | None, fused: bool | None) -> Backend:
        """The compiled loop on a CPU, the fused kernel on CUDA in float32, each where it can run
        this engine (else said: ``say_instead``); else CUDA graphs on CUDA (unless
        ``cuda_graph`` is False), else tensor operations."""
        if self.device.type == "cpu":
            if fused:
                raise ValueError("the fused kernel runs on CUDA only")
            if native is False:
                return TensorOps(self)
            lib = native_loop.library(self.dtype)
            why = (native_loop.build.unavailable_reason if lib is None
                   else Functions.of(self).missing(lib.enums, "the native CPU loop"))
            if lib is not None and why is None:
                return NativeLoop(self, lib)
            say_instead(why or "the native CPU loop is unavailable", "tensor operations", native,
                        "MNIST_MLP_NATIVE")
            return TensorOps(self)
        if native:
            raise ValueError("the native loop runs on the CPU only")
        fused = fused if cuda_graph else bool(fused)  # no graphs: step by step, unless fused
        if fused or (fused is None and self.device.type == "cuda"
                     and self.dtype == torch.float32):
            why = ("the fused kernel runs on CUDA only" if self.device.type != "cuda"
                   else fused_kernel.uncovered(self))
            launcher = None if why else fused_kernel.device.kernel(self.W1.device.index or 0)
            if launcher is not None:
                return FusedKernel(self, launcher)
            say_instead(why or fused_kernel.device.unavailable_reason or "the fused kernel is "
                        "unavailable", "CUDA graphs", fused, "MNIST_MLP_FUSED")
        return CudaGraphs(self) if cuda_graph and self.device.type == "cuda" else TensorOps(self)

    @property
    def size(self) -> int:
        """K, the number of networks."""
        return self.W1.shape[0]

    def layers(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """a¹, z² and F for inputs x of shape (K, m, 784): one batched product per layer."""
        a1 = self.activation(torch.baddbmm(self.b1, x, self.W1.mT))
        z2 = torch.baddbmm(self.b2, a1, self.W2.mT)
        return a1, z2, self.output_activation(z2)

    def parameters(self) -> Stacked:
        """W¹, b¹, W², b² of the K networks (the tensors themselves: updated in place)."""
        return Stacked(self.W1, self.b1, self.W2, self.b2)

    def step(self, x: Tensor, y: Tensor, batch_losses: Tensor) -> None:
        """One step of mini-batch SGD of every network on its mini-batch x (K, m, 784), y (K, m,
        10): the forward pass, the gradients (BP1)–(BP4), the update. The mean loss of each
        network's mini-batch, before the step, into ``batch_losses`` (K,)."""
        a1, z2, F = self.layers(x)
        batch_losses.copy_(self.network_loss(z2, y, "none", F).mean(dim=1))
        self.update(self.gradients(x, a1, z2, F, y))

    def gradients(self, x: Tensor, a1: Tensor, z2: Tensor, F: Tensor, y: Tensor) -> Stacked:
        """∂L/∂θ of every network, L the mean loss of its mini-batch (x, y), by backpropagation
        (``mnist_mlp.textbook.backprop``) from the forward pass's a¹, z² and F."""
        delta2 = output_error(self.output_activation, self.loss_name, z2, F, y)  # (BP1)
        delta2 = delta2 / x.shape[1]                                   # L the mean over m
        delta1 = self.activation.backward(a1, torch.bmm(delta2, self.W2))  # (BP2)
        return Stacked(W1=torch.bmm(delta1.mT, x),                     # (BP4)
                       b1=delta1.sum(dim=1, keepdim=True),             # (BP3)
                       W2=torch.bmm(delta2.mT, a1),                    # (BP4)
                       b2=delta2.sum(dim=1, keepdim=True))             # (BP3)

    def update(self, gradients: Stacked) -> None:
        """The chapter's rule θ ← θ − η ∂L/∂θ for every parameter of every network, network k
        with its own η (``lrs[k]``). A rule with state (momentum, say) replaces this method."""
        for theta, gradient in zip(self.parameters(), gradients, strict=True):
            theta.addcmul_(self.lrs, gradient, value=-1)

    def epoch(self, images: Tensor, targets: Tensor, batch_size: int,
              generators: Sequence[torch.Generator]) -> Tensor:
        """One epoch of every network over ``images`` (N, 784), ``targets`` (N, 10) on the
        engine's device, network k in the order ``epoch_order(N, generators[k])``; returns each
        one's mini-batch losses (K, steps) in the order it took them."""
        steps = steps_per_epoch(images.shape[0], batch_size)
        batch_losses = torch.empty(self.size, steps, dtype=self.dtype, device=self.device)
        self.backend.run(images, targets, generators, batch_size, batch_losses)
        return batch_losses

    def prepare(self, images: Tensor) -> None:
        """Get ready to train on ``images`` (``epoch`` does it; call it first to keep it out of
        a timing): the compiled backends read them as sparse rows, made once."""
        self.backend.prepare(images)

    @torch.no_grad()
    def evaluate(self, data: DigitTensors) -> tuple[Tensor, Tensor]:
        """Mean loss (K,) and confusion matrix (K, 10, 10) of every network on ``data``."""
        return self.backend.evaluate(data)

    @torch.no_grad()
    def dense_evaluate(self, data: DigitTensors) -> tuple[Tensor, Tensor]:
        """``evaluate`` by batched matrix products, a chunk of images at a time so that the
        temporaries stay small: the tensor-operation backends' way (and a GPU's)."""
        n, k = len(data), self.size
        chunk = max(1, (1 << 24) // (k * max(self.W1.shape[1], NUM_CLASSES)))
        loss_sum = torch.zeros(k, dtype=torch.float64, device=self.device)
        confusions = torch.zeros(k, NUM_CLASSES, NUM_CLASSES, dtype=torch.int64)
        for start in range(0, n, chunk):
            x = data.images[start:start + chunk].to(self.dtype)
            labels = data.labels[start:start + chunk]
            y = torch.nn.functional.one_hot(labels, NUM_CLASSES).to(self.dtype)
            _, z2, F = self.layers(x.expand(k, *x.shape))
            loss_sum += self.network_loss(z2, y.expand(k, *y.shape), "none", F).sum(1).double()
            confusions += confusion_matrices(F.argmax(dim=-1), labels)
        return (loss_sum / n).cpu(), confusions

    def models(self) -> list[MLP]:
        """The K networks as ``MLP`` modules on the engine's device and dtype, their weights
        copied in now (the same modules at every call)."""
        if not self._models:
            self._models = [MLP(**self.architecture).to(self.device, self.dtype)
                            for _ in range(self.size)]
        with torch.no_grad():
            for k, model in enumerate(self._models):
                model.hidden.weight.copy_(self.W1[k])
                model.hidden.bias.copy_(self.b1[k, 0])
                model.output.weight.copy_(self.W2[k])
                model.output.bias.copy_(self.b2[k, 0])
        return self._models
