"""One sigmoid neuron, F = σ(wx + b), trained by gradient descent: the chapter's toy example of
the learning slowdown (after Nielsen, ch. 3).

Under the quadratic cost ``C = ½(F − y)²`` the gradients carry a factor ``σ'(z)``, tiny when the
neuron saturates: a neuron *badly* wrong learns *slowly*. Under the cross-entropy (35) they are
``x(σ(z) − y)`` (36) and ``σ(z) − y`` (37), no ``σ'``. ``train_neuron`` runs the experiment with
autograd and the package's losses, recording the analytic gradients beside autograd's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from .losses import binary_cross_entropy, mse_loss

COSTS = ("quadratic", "cross_entropy")
"""The two costs compared: ``mse_loss`` (½(F − y)²) and ``binary_cross_entropy``."""
SATURATED_START = (2.0, 2.0)
"""``(w0, b0)`` of Nielsen's badly wrong start (ch. 3): z = 4, output σ(4) ≈ 0.98 for y = 0."""
UNSATURATED_START = (0.6, 0.9)
"""``(w0, b0)`` of Nielsen's milder start (ch. 3): z = 1.5, output σ(1.5) ≈ 0.82 for y = 0."""


def sigmoid(z: float) -> float:
    """σ(z) = 1 / (1 + e^(−z)), without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def sigmoid_prime(z: float) -> float:
    """σ'(z) = σ(z)(1 − σ(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


def quadratic_gradients(w: float, b: float, x: float, y: float) -> tuple[float, float]:
    """Gradients of the quadratic cost ``C = ½(F − y)²`` of F = σ(wx + b) (Nielsen eq. 55–56):
    ``∂C/∂w = (σ(z) − y) σ'(z) x``, ``∂C/∂b = (σ(z) − y) σ'(z)``, z = wx + b; for {x, y} = {1, 0}
    both the chapter's ``σ(w + b)σ'(w + b)``. The factor σ'(z) slows a saturated neuron."""
    z = w * x + b
    delta = (sigmoid(z) - y) * sigmoid_prime(z)
    return delta * x, delta


def cross_entropy_gradients(w: float, b: float, x: float, y: float) -> tuple[float, float]:
    """Gradients of the cross-entropy ``C = −[y ln F + (1 − y) ln(1 − F)]`` (Nielsen eq. 61–62):
    ``∂C/∂w = x (σ(z) − y)`` (36) and ``∂C/∂b = σ(z) − y`` (37), z = wx + b: σ'(z) has
    cancelled, the rate of learning is set by the error alone."""
    delta = sigmoid(w * x + b) - y
    return x * delta, delta


_LOSS_FNS = {"quadratic": mse_loss, "cross_entropy": binary_cross_entropy}
_ANALYTIC = {"quadratic": quadratic_gradients, "cross_entropy": cross_entropy_gradients}


@dataclass
class NeuronRun:
    """One training run of the neuron. Entry e of every list is the state after e steps, so
    ``epochs`` steps give ``epochs + 1`` entries; ``grad_*`` are autograd's gradients,
    ``grad_*_analytic`` the textbook's formulas."""

    cost: str
    lr: float
    w0: float
    b0: float
    x: float
    y: float
    loss: list[float] = field(default_factory=list)
    output: list[float] = field(default_factory=list)
    w: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)
    grad_w: list[float] = field(default_factory=list)
    grad_b: list[float] = field(default_factory=list)
    grad_w_analytic: list[float] = field(default_factory=list)
    grad_b_analytic: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """The number of gradient-descent steps taken."""
        return len(self.loss) - 1

    def max_gradient_error(self) -> float:
        """The largest |autograd − analytic| over both gradients and all epochs."""
        pairs = zip(self.grad_w + self.grad_b, self.grad_w_analytic + self.grad_b_analytic,
                    strict=True)
        return max((abs(a - b) for a, b in pairs), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """The run as plain JSON-ready data (setup and per-epoch lists)."""
        return asdict(self)


def train_neuron(cost: str, w0: float, b0: float, lr: float = 0.15, epochs: int = 300,
                 x: float = 1.0, y: float = 0.0) -> NeuronRun:
    """Train F = σ(wx + b) on the one example (x, y) by ``w ← w − η ∂C/∂w``, ``b ← b − η ∂C/∂b``,
    C "quadratic" (``mse_loss``) or "cross_entropy" (``binary_cross_entropy``), in float64,
    gradients by autograd. The defaults are Nielsen's for the quadratic cost: η = 0.15, 300
    epochs, x = 1, y = 0 (his cross-entropy demos take η = 0.005; one η here compares the two)."""
    if cost not in _LOSS_FNS:
        raise ValueError(f"unknown cost {cost!r}; choose one of {', '.join(COSTS)}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    for name, value in (("w0", w0), ("b0", b0), ("x", x), ("y", y)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")

    loss_fn, analytic = _LOSS_FNS[cost], _ANALYTIC[cost]
    run = NeuronRun(cost=cost, lr=float(lr), w0=float(w0), b0=float(b0), x=float(x), y=float(y))
    w = torch.tensor(float(w0), dtype=torch.float64, requires_grad=True)
    b = torch.tensor(float(b0), dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[float(y)]], dtype=torch.float64)

    for epoch in range(epochs + 1):
        F = torch.sigmoid(w * x + b).reshape(1, 1)
        loss = loss_fn(F, target, reduction="sum")
        dw, db = torch.autograd.grad(loss, (w, b))
        for series, tensor in zip((run.loss, run.output, run.w, run.b, run.grad_w, run.grad_b),
                                 (loss, F, w, b, dw, db), strict=True):
            series.append(tensor.item())
        dw_analytic, db_analytic = analytic(w.item(), b.item(), x, y)
        run.grad_w_analytic.append(dw_analytic)
        run.grad_b_analytic.append(db_analytic)
        if epoch < epochs:
            with torch.no_grad():
                w -= lr * dw
                b -= lr * db
    return run
