"""Autograd against the chapter's analytic gradients, in float64: the single sigmoid neuron's
(36) and (37) with the cross-entropy, its quadratic-cost gradient σ(w + b)σ'(w + b), the learning
slowdown, and the softmax output-bias gradient (Nielsen ch. 3 numbers beside)."""

import itertools

import pytest
import torch

from mnist_mlp.textbook.losses import binary_cross_entropy, log_likelihood, mse_loss

f64 = torch.float64


def neuron_gradients(loss_fn, w: float, b: float, x: float, y: float):
    """Autograd's ∂L/∂w and ∂L/∂b for one sigmoid neuron F = σ(wx + b) on one sample."""
    w_t = torch.tensor(w, dtype=f64, requires_grad=True)
    b_t = torch.tensor(b, dtype=f64, requires_grad=True)
    F = torch.sigmoid(w_t * x + b_t).reshape(1, 1)
    loss_fn(F, torch.tensor([[y]], dtype=f64)).backward()
    return w_t.grad.item(), b_t.grad.item()


def sigma(z: float) -> float:
    return torch.sigmoid(torch.tensor(z, dtype=f64)).item()


def sigma_prime(z: float) -> float:
    return sigma(z) * (1 - sigma(z))


CASES = [(2.0, 2.0, 1.0, 0.0), (0.6, 0.9, 1.0, 0.0), (-1.5, 0.3, 0.7, 1.0), (0.4, -2.0, -2.5, 1.0)]


@pytest.mark.parametrize(("w", "b", "x", "y"), CASES)
def test_sigmoid_neuron_cross_entropy(w, b, x, y):
    """∂L/∂w = x(σ(wx+b) − y) (36), ∂L/∂b = σ(wx+b) − y (37) (Nielsen eq. 61–62)."""
    dw, db = neuron_gradients(binary_cross_entropy, w, b, x, y)
    s = sigma(w * x + b)
    assert dw == pytest.approx(x * (s - y), rel=1e-12, abs=1e-15)
    assert db == pytest.approx(s - y, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("w", "b", "x", "y"), CASES)
def test_sigmoid_neuron_quadratic_cost(w, b, x, y):
    """∂L/∂w = (σ − y)σ'(wx+b)x, ∂L/∂b = (σ − y)σ'(wx+b) (Nielsen eq. 55–56); for
    {x, y} = {1, 0} both are the chapter's σ(w + b)σ'(w + b)."""
    if (x, y) == (1.0, 0.0):
        chapter = sigma(w + b) * sigma_prime(w + b)
        assert neuron_gradients(mse_loss, w, b, x, y) == pytest.approx((chapter, chapter))
    dw, db = neuron_gradients(mse_loss, w, b, x, y)
    z = w * x + b
    assert dw == pytest.approx((sigma(z) - y) * sigma_prime(z) * x, rel=1e-12, abs=1e-15)
    assert db == pytest.approx((sigma(z) - y) * sigma_prime(z), rel=1e-12, abs=1e-15)


def test_learning_slowdown():
    """The chapter's toy example: as σ(w + b) → 1 with {x, y} = {1, 0}, the quadratic gradient
    σ(w + b)σ'(w + b) vanishes; the cross-entropy's (36) tends to x(σ − y) = 1."""
    quadratic, crossent = [], []
    for wb in (2.0, 4.0, 8.0, 16.0):
        quadratic.append(neuron_gradients(mse_loss, wb, wb, 1.0, 0.0)[0])
        crossent.append(neuron_gradients(binary_cross_entropy, wb, wb, 1.0, 0.0)[0])
    assert all(a > b for a, b in itertools.pairwise(quadratic))  # shrinking with saturation
    assert quadratic[-1] < 1e-13
    assert all(0.98 < g <= 1.0 for g in crossent)
    assert crossent[0] / quadratic[0] > 50  # already at σ = 0.98 (w = b = 2)


def test_softmax_cross_entropy_bias_gradient():
    """With softmax output and the chapter's softmax cross-entropy (a sum over the batch),
    ∂L/∂b_j = Σ_i (F_j(x_i) − y_ij) (Nielsen eq. 81) — not the chapter's printed
    Σᵢ [F_{nᵢ}(xᵢ) − y_{nᵢ}] (tests/test_errata.py)."""
    g = torch.Generator().manual_seed(3)
    a = torch.rand(8, 5, generator=g, dtype=f64)  # previous layer's activations
    W = torch.randn(10, 5, generator=g, dtype=f64)
    b = torch.randn(10, generator=g, dtype=f64, requires_grad=True)
    labels = torch.randint(0, 10, (8,), generator=g)
    F = torch.softmax(a @ W.T + b, dim=1)
    log_likelihood(F, labels, reduction="sum").backward()
    y = torch.nn.functional.one_hot(labels, 10).to(f64)
    torch.testing.assert_close(b.grad, (F - y).sum(dim=0).detach(), rtol=1e-12, atol=1e-14)
