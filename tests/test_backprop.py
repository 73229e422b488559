"""The chapter's backpropagation algorithm, written by hand as (BP1)–(BP4)
(mnist_mlp.textbook.backprop), equals autograd, for every loss, output and hidden activation."""

import itertools

import pytest
import torch

from mnist_mlp import MLP
from mnist_mlp.textbook.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from mnist_mlp.textbook.backprop import gradients
from mnist_mlp.textbook.losses import LOSSES, get_loss

COMBINATIONS = list(itertools.product(LOSSES, OUTPUT_ACTIVATIONS, HIDDEN_ACTIVATIONS))


def autograd_gradients(model, x, target, loss, reduction):
    model.zero_grad()
    get_loss(loss).fn(model(x), target, reduction).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


def setup(hidden_size: int, output_activation: str, activation: str, seed: int = 0, m: int = 6):
    torch.manual_seed(seed)
    model = MLP(hidden_size, activation, output_activation, init="scaled_normal").double()
    x = torch.rand(m, 1, 28, 28, dtype=torch.float64)
    labels = torch.randint(0, 10, (m,))
    return model, x, labels


@pytest.mark.parametrize(("loss", "output_activation", "activation"), COMBINATIONS)
@pytest.mark.parametrize("hidden_size", [1, 3, 30])
def test_backprop_equals_autograd(loss, output_activation, activation, hidden_size):
    model, x, labels = setup(hidden_size, output_activation, activation)
    by_hand = gradients(model, x, labels, loss)
    expected = autograd_gradients(model, x, labels, loss, "mean")
    assert by_hand.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(by_hand[name], expected[name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_one_hot_targets_and_sum_reduction(loss, reduction):
    model, x, labels = setup(7, "softmax", "sigmoid", seed=1)
    y = torch.nn.functional.one_hot(labels, 10).double()
    by_hand = gradients(model, x, y, loss, reduction)
    expected = autograd_gradients(model, x, labels, loss, reduction)
    for name in expected:
        torch.testing.assert_close(by_hand[name], expected[name], rtol=1e-10, atol=1e-12)


def test_soft_targets():
    model, x, _ = setup(5, "sigmoid", "tanh", seed=2)
    y = torch.softmax(torch.randn(6, 10, dtype=torch.float64), dim=1)
    by_hand = gradients(model, x, y, "binary_cross_entropy")
    expected = autograd_gradients(model, x, y, "binary_cross_entropy", "mean")
    for name in expected:
        torch.testing.assert_close(by_hand[name], expected[name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("output_activation", list(OUTPUT_ACTIVATIONS))
def test_matched_pairs_give_output_error_f_minus_y(output_activation):
    """Sigmoid + the cross-entropy (35) and softmax + the softmax cross-entropy: δ² = F − y
    (the chapter's (37) and its softmax gradient, corrected; Nielsen eq. 81), so the summed
    output-bias gradient is Σ_i (F(x_i) − y_i)."""
    loss = "binary_cross_entropy" if output_activation == "sigmoid" else "log_likelihood"
    model, x, labels = setup(4, output_activation, "sigmoid", seed=3)
    y = torch.nn.functional.one_hot(labels, 10).double()
    with torch.no_grad():
        expected = (model(x) - y).sum(dim=0)
    torch.testing.assert_close(gradients(model, x, labels, loss, "sum")["output.bias"], expected)


def test_does_not_touch_autograd_state():
    model, x, labels = setup(3, "softmax", "sigmoid")
    gradients(model, x, labels)
    assert all(p.grad is None for p in model.parameters())


def test_bad_reduction():
    model, x, labels = setup(3, "softmax", "sigmoid")
    with pytest.raises(ValueError, match="reduction"):
        gradients(model, x, labels, reduction="none")
