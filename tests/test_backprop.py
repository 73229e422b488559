"""The chapter's backpropagation algorithm, written by hand as (BP1)–(BP4)
(mnist_mlp.textbook.backprop), equals autograd, for every loss, output and hidden activation."""

import itertools
from functools import partial

import pytest
import torch

from mnist_mlp import MLP
from mnist_mlp.textbook.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, Softmax
from mnist_mlp.textbook.backprop import gradients, softmax_cross_entropy_error
from mnist_mlp.textbook.losses import LOSSES, binary_cross_entropy_of_softmax, get_loss

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


# --- (BP1) for a softmax and the cross-entropy (35), in float32 ----------------------------------


def saturated_rows(dtype=torch.float64):
    """Weighted inputs z of 10 outputs and one-hot targets, each row a case the product form
    (1/F times the softmax Jacobian) cannot take in float32: the label's F between e^(−100) and
    2.9·10⁻³⁹ (1/F = ∞), below e^(−100) (clamped), a wrong output so far ahead that 1 − F is
    subnormal or 0, the label so far ahead that F rounds to 1; and one ordinary row."""
    rest = torch.linspace(-3.0, 3.0, 9, dtype=torch.float64)
    rows, labels = [], []
    for ahead, label in [(95.0, 9), (120.0, 9), (20.0, 9), (0.0, 9)]:  # label at −ahead
        rows.append(torch.cat([rest, torch.tensor([-ahead], dtype=torch.float64)]))
        labels.append(label)
    for gap in (20.0, 92.0, 99.0, 105.0, 300.0):  # output 0 ahead of all the others by gap
        rows.append(torch.cat([torch.tensor([gap], dtype=torch.float64), rest]))
        labels.append(4)
    rows.append(torch.cat([torch.tensor([95.0], dtype=torch.float64), rest]))  # the label
    labels.append(0)
    z = torch.stack(rows)
    return z.to(dtype), torch.nn.functional.one_hot(torch.tensor(labels), 10).to(dtype)


def autograd_error(z, loss_of_z):
    z = z.clone().requires_grad_()
    loss_of_z(z).backward()
    return z.grad


def test_the_fused_softmax_error_is_the_gradient_of_35():
    """In float64, where (35) of F can still be differentiated as written (1 − F ≥ 10⁻⁸, F down
    to e^(−95)), the fused form is autograd's gradient of it; everywhere, also where 1 − F
    rounds to 0, it is autograd's gradient of (35) computed from z. Soft targets too."""
    g = torch.Generator().manual_seed(0)
    z = torch.cat([saturated_rows()[0], 12 * torch.randn(100, 10, generator=g,
                                                          dtype=torch.float64)])
    targets = [torch.nn.functional.one_hot(torch.randint(0, 10, (len(z),), generator=g), 10),
               torch.softmax(torch.randn(len(z), 10, generator=g, dtype=torch.float64), 1)]
    for y in (target.double() for target in targets):
        fused = softmax_cross_entropy_error(z, torch.softmax(z, -1), y)
        of_z = autograd_error(z, partial(binary_cross_entropy_of_softmax, target=y,
                                         reduction="sum"))
        torch.testing.assert_close(fused, of_z, rtol=1e-12, atol=1e-15)
        of_F = autograd_error(z, lambda z, y=y: get_loss("binary_cross_entropy").fn(
            torch.softmax(z, -1), y, "sum"))
        fit = (1 - torch.softmax(z, -1)).min(dim=1).values >= 1e-8
        assert fit.sum() > 50
        torch.testing.assert_close(fused[fit], of_F[fit], rtol=1e-7, atol=1e-12)


def test_the_fused_softmax_error_is_finite_in_float32_at_saturated_outputs():
    """On every saturated row the product form gives ∞ or NaN in float32, or (1 − F = 0) a zero
    gradient where (35) has one; the fused form in float32 gives the float64 numbers, to float32
    rounding of outputs of size up to 2."""
    z, y = saturated_rows(torch.float32)
    F = torch.softmax(z, -1)
    product = Softmax().backward(F, get_loss("binary_cross_entropy").grad(F, y))
    fused = softmax_cross_entropy_error(z, F, y)
    exact = softmax_cross_entropy_error(z.double(), torch.softmax(z.double(), -1), y.double())
    assert not product[[0, 5, 6]].isfinite().all(dim=1).any()  # 1/F = ∞
    assert fused.isfinite().all()
    torch.testing.assert_close(fused.double(), exact, rtol=0, atol=1e-6)
    # F_0 ≈ 1 is wrong: F_0 − y_0 through the label's term, F_0 through −ln(1 − F_0), which
    # the product form loses where 1 − F_0 rounds to 0
    assert exact[4, 0] == pytest.approx(2.0) and product[4, 0] == pytest.approx(1.0)
    assert abs(exact[1, 9]) < 1e-40  # the label's ln F clamped: no pull up (not −1)
    assert exact.sum(dim=1).abs().max() < 1e-12  # a softmax's δ sums to 0
