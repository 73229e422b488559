"""One sigmoid neuron, F = σ(wx + b), trained by gradient descent: the chapter's toy example of
the learning slowdown.

The chapter (and Nielsen, *Neural Networks and Deep Learning*, ch. 3, whose demonstration this
follows) takes a single neuron with one input to show why the cost matters. Under the quadratic
cost ``C = ½(F − y)²`` the gradients carry a factor ``σ'(z)``: for the chapter's pair
{x, y} = {1, 0} they are ``∂C/∂w = ∂C/∂b = σ(w + b)σ'(w + b)`` (its unnumbered formula; Nielsen
eq. 55–56), tiny when the neuron saturates (F ≈ 1), so a neuron that is *badly* wrong learns
*slowly*. The cross-entropy (35) of one sample, ``C = −[y ln F + (1 − y) ln(1 − F)]``, has
gradients ``x(σ(z) − y)`` and ``σ(z) − y`` — the chapter's (36) and (37) (Nielsen eq. 61–62): no
``σ'`` factor, so the larger the error, the faster the neuron learns.

``train_neuron`` runs that experiment with autograd and records these analytic gradients beside
autograd's at every epoch. The losses are the package's own (``mse_loss``,
``binary_cross_entropy``), on a batch of one sample with one output.
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
"""``(w0, b0)`` of the textbook's badly wrong start: z = 4, output σ(4) ≈ 0.98 for y = 0."""
UNSATURATED_START = (0.6, 0.9)
"""``(w0, b0)`` of the textbook's milder start: z = 1.5, output σ(1.5) ≈ 0.82 for y = 0."""


def sigmoid(z: float) -> float:
    """σ(z) = 1 / (1 + e^(−z)), evaluated without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def sigmoid_prime(z: float) -> float:
    """σ'(z) = σ(z)(1 − σ(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


def quadratic_gradients(w: float, b: float, x: float, y: float) -> tuple[float, float]:
    """Gradients of the quadratic cost ``C = ½(F − y)²`` of F = σ(wx + b) (Nielsen eq. 55–56).

    ``∂C/∂w = (σ(z) − y) σ'(z) x`` and ``∂C/∂b = (σ(z) − y) σ'(z)``, with z = wx + b; for
    {x, y} = {1, 0} both are the chapter's ``σ(w + b)σ'(w + b)``. The factor σ'(z) is what
    makes a saturated neuron learn slowly.
    """
    z = w * x + b
    delta = (sigmoid(z) - y) * sigmoid_prime(z)
    return delta * x, delta


def cross_entropy_gradients(w: float, b: float, x: float, y: float) -> tuple[float, float]:
    """Gradients of the cross-entropy ``C = −[y ln F + (1 − y) ln(1 − F)]``: the chapter's (36)
    and (37) (Nielsen eq. 61–62).

    ``∂C/∂w = x (σ(z) − y)`` (36) and ``∂C/∂b = σ(z) − y`` (37), with z = wx + b: σ'(z) has
    cancelled, so the rate of learning is set by the error alone.
    """
    delta = sigmoid(w * x + b) - y
    return x * delta, delta


_LOSS_FNS = {"quadratic": mse_loss, "cross_entropy": binary_cross_entropy}
_ANALYTIC = {"quadratic": quadratic_gradients, "cross_entropy": cross_entropy_gradients}


@dataclass
class NeuronRun:
    """One training run of the neuron; every list has one entry per epoch, epoch 0 the start.

    Entry ``e`` is taken *before* the e-th update, i.e. after ``e`` steps of gradient descent, so
    a run of ``epochs`` steps has ``epochs + 1`` entries. ``grad_w``/``grad_b`` are autograd's
    gradients, ``grad_w_analytic``/``grad_b_analytic`` the textbook's formulas, at that state.
    """

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
    """Train F = σ(wx + b) on the single example (x, y) by gradient descent on ``cost``.

    ``cost`` is "quadratic" (``mse_loss``, ½(F − y)²) or "cross_entropy"
    (``binary_cross_entropy``). Each epoch computes F and the loss in float64, gets ∂C/∂w and
    ∂C/∂b by autograd, records them beside the analytic formulas, and steps
    ``w ← w − η ∂C/∂w``, ``b ← b − η ∂C/∂b`` (with one example, gradient descent is SGD).
    The defaults are Nielsen's demonstration: η = 0.15, 300 epochs, x = 1, y = 0.
    """
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
        w_now, b_now = w.item(), b.item()
        dw_analytic, db_analytic = analytic(w_now, b_now, x, y)
        run.loss.append(loss.item())
        run.output.append(F.item())
        run.w.append(w_now)
        run.b.append(b_now)
        run.grad_w.append(dw.item())
        run.grad_b.append(db.item())
        run.grad_w_analytic.append(dw_analytic)
        run.grad_b_analytic.append(db_analytic)
        if epoch < epochs:
            with torch.no_grad():
                w -= lr * dw
                b -= lr * db
    return run
