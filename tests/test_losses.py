"""Each loss of the chapter against a hand computation, torch's built-in, gradcheck and its
written gradient: the L2 and L1 losses with their 1/(2m) (reduction "mean"), the cross-entropy
(35) and the softmax cross-entropy as the chapter writes them, sums over the samples (reduction
"sum")."""

import math

import pytest
import torch
import torch.nn.functional as tf

from mnist_mlp.textbook import losses
from mnist_mlp.textbook.activations import OUTPUT_ACTIVATIONS, make_activation
from mnist_mlp.textbook.backprop import MATCHED_PAIRS, output_error
from mnist_mlp.textbook.losses import LOSSES, get_loss


def batch(m: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax outputs F (m, 10) strictly inside (0, 1) and class labels (m,)."""
    g = torch.Generator().manual_seed(seed)
    F = torch.softmax(torch.randn(m, 10, generator=g, dtype=torch.float64), dim=1)
    labels = torch.randint(0, 10, (m,), generator=g)
    return F, labels


def test_mse_by_hand():
    """The chapter's L2 loss, 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₂², is reduction "mean"."""
    F = torch.tensor([[0.2, 0.7, 0.1], [0.5, 0.5, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    # ½‖F−y‖² per sample: ½(0.64 + 0.49 + 0.01) = 0.57 and ½(0.25 + 0.25 + 0) = 0.25.
    assert losses.mse_loss(F, y, "none").tolist() == pytest.approx([0.57, 0.25])
    assert losses.mse_loss(F, y).item() == pytest.approx((0.57 + 0.25) / 2)
    assert losses.mse_loss(F, y).item() == pytest.approx((1.14 + 0.5) / (2 * 2))  # 1/(2m) Σ
    assert losses.mse_loss(F, y, "sum").item() == pytest.approx(0.82)


def test_mae_by_hand():
    """The chapter's L1 loss, 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₁, is reduction "mean"."""
    F = torch.tensor([[0.2, 0.7, 0.1], [0.5, 0.5, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    # ½‖F−y‖₁ per sample: ½(0.8 + 0.7 + 0.1) = 0.8 and ½(0.5 + 0.5 + 0) = 0.5.
    assert losses.mae_loss(F, y, "none").tolist() == pytest.approx([0.8, 0.5])
    assert losses.mae_loss(F, y).item() == pytest.approx(0.65)
    assert losses.mae_loss(F, y).item() == pytest.approx((1.6 + 1.0) / (2 * 2))  # 1/(2m) Σ


def test_cross_entropies_by_hand():
    F = torch.tensor([[0.2, 0.7, 0.1]], dtype=torch.float64)
    y = torch.tensor([1])
    assert losses.log_likelihood(F, y).item() == pytest.approx(-math.log(0.7))
    bce = -(math.log(0.8) + math.log(0.7) + math.log(0.9))
    assert losses.binary_cross_entropy(F, y).item() == pytest.approx(bce)


def test_cross_entropies_are_the_chapters_sums_over_samples():
    """(35), −Σᵢ [yᵢ·ln F(xᵢ) + (1 − yᵢ)·ln(1 − F(xᵢ))], and the softmax cross-entropy
    −Σᵢ ln F_{nᵢ}(xᵢ) are sums over the samples: reduction "sum"; "mean" is that over m."""
    F, labels = batch(6)
    y = tf.one_hot(labels, 10).double()
    eq35 = -(y * torch.log(F) + (1 - y) * torch.log(1 - F)).sum()
    softmax_ce = -torch.log(F[torch.arange(6), labels]).sum()
    torch.testing.assert_close(losses.binary_cross_entropy(F, labels, "sum"), eq35)
    torch.testing.assert_close(losses.log_likelihood(F, labels, "sum"), softmax_ce)
    torch.testing.assert_close(losses.binary_cross_entropy(F, labels, "mean"), eq35 / 6)
    torch.testing.assert_close(losses.log_likelihood(F, labels, "mean"), softmax_ce / 6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_agree_with_torch_builtins(reduction):
    F, labels = batch(7)
    y = tf.one_hot(labels, 10).double()
    # Ours sums over the 10 outputs (with ½ for L2 and L1); torch's "mean" also averages over them.
    per_output = {"mean": 10, "sum": 1, "none": 1}[reduction]

    def builtin(fn, *args):
        out = fn(*args, reduction=reduction)
        return out.sum(dim=1) if reduction == "none" else out * per_output

    torch.testing.assert_close(losses.mse_loss(F, y, reduction),
                               0.5 * builtin(tf.mse_loss, F, y))
    torch.testing.assert_close(losses.mae_loss(F, y, reduction),
                               0.5 * builtin(tf.l1_loss, F, y))
    torch.testing.assert_close(losses.binary_cross_entropy(F, y, reduction),
                               builtin(tf.binary_cross_entropy, F, y))
    torch.testing.assert_close(losses.log_likelihood(F, labels, reduction),
                               tf.nll_loss(torch.log(F), labels, reduction=reduction))


def test_softmax_cross_entropy_is_torch_cross_entropy_of_logits():
    z = torch.randn(6, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    labels = torch.arange(6)
    torch.testing.assert_close(losses.log_likelihood(torch.softmax(z, 1), labels),
                               tf.cross_entropy(z, labels))


@pytest.mark.parametrize("name", list(LOSSES))
def test_index_and_one_hot_targets_agree(name):
    F, labels = batch()
    fn = get_loss(name).fn
    torch.testing.assert_close(fn(F, labels), fn(F, tf.one_hot(labels, 10).double()))


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradcheck(name):
    F, labels = batch(4)
    F = F.clone().requires_grad_()
    y = tf.one_hot(labels, 10).double()
    fn = get_loss(name).fn
    if name == "mae":  # |F − y| has a kink at F = y; keep F away from it.
        F = (0.05 + 0.9 * F.detach()).requires_grad_()
    assert torch.autograd.gradcheck(lambda out: fn(out, y, "sum"), (F,))


@pytest.mark.parametrize("name", list(LOSSES))
def test_written_gradient_equals_autograd(name):
    F, labels = batch(5)
    F.requires_grad_()
    loss = get_loss(name)
    loss.fn(F, labels, "sum").backward()
    torch.testing.assert_close(loss.grad(F.detach(), labels), F.grad)


@pytest.mark.parametrize("name", list(LOSSES))
def test_finite_at_exact_zero_and_one(name):
    F = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.0, 0.5]], requires_grad=True)
    y = torch.tensor([1, 1, 1])  # right, wrong (F = 0 at the true class), and wrong
    loss = get_loss(name)
    value = loss.fn(F, y, "sum")
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(F.grad).all()
    assert torch.isfinite(loss.grad(F.detach(), y)).all()
    torch.testing.assert_close(loss.grad(F.detach(), y), F.grad)


def test_log_floor_matches_torch_at_zero():
    F = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    # ln 0 and ln(1 − 1) are both clamped at −100, as in torch's binary_cross_entropy.
    assert losses.binary_cross_entropy(F, y, "sum").item() == pytest.approx(200.0)
    assert tf.binary_cross_entropy(F, y, reduction="sum").item() == pytest.approx(200.0)
    assert losses.log_likelihood(F, torch.tensor([0])).item() == pytest.approx(100.0)


def test_bad_arguments():
    F, labels = batch()
    with pytest.raises(ValueError, match="reduction"):
        losses.mse_loss(F, labels, "average")
    with pytest.raises(ValueError, match="target"):
        losses.mse_loss(F, torch.zeros(5, 3))
    with pytest.raises(ValueError, match="log_likelihood"):
        get_loss("hinge")


def test_cross_entropy_is_refused_as_ambiguous_and_read_in_old_files():
    """``cross_entropy`` could be read as (35) (the chapter) or as the first term (PyTorch): the
    name is refused, saying which is which; old checkpoints' ``cross_entropy`` was the first
    term."""
    with pytest.raises(ValueError, match=r"binary_cross_entropy.*log_likelihood"):
        get_loss("cross_entropy")
    from mnist_mlp.training.checkpoints import renamed
    assert renamed({"loss": "cross_entropy", "lr": 0.5}) == {"loss": "log_likelihood", "lr": 0.5}
    assert renamed({"loss": "binary_cross_entropy"}) == {"loss": "binary_cross_entropy"}


def test_log_floor_in_float32():
    F = torch.tensor([[0.0, 1.0]])
    y = torch.tensor([[1.0, 0.0]])
    # e^(−100) is subnormal in float32: the floor is −99.98 rather than torch's −100.
    ours = losses.binary_cross_entropy(F, y, "sum").item()
    assert ours == pytest.approx(tf.binary_cross_entropy(F, y, reduction="sum").item(), rel=1e-3)


# --- The loss of the network's output, from z ---------------------------------------------------


@pytest.mark.parametrize("output", list(OUTPUT_ACTIVATIONS))
@pytest.mark.parametrize("name", list(LOSSES))
def test_network_loss_is_the_loss_of_the_output(name, output):
    """ℓ from the weighted input z equals ℓ(ψ(z), y) in value, in float64: for outputs far
    from 0 and 1, and for outputs down to about e^(−60) and up to 1 − 10⁻⁸ (where 1 − F, formed
    by ℓ(ψ(z), y), is still good to 8 digits: the tolerance)."""
    activation = make_activation(output, OUTPUT_ACTIVATIONS, "output")
    loss_of_z = losses.network_loss(name, activation)
    g = torch.Generator().manual_seed(0)
    z = torch.cat([torch.randn(50, 10, generator=g, dtype=torch.float64),
                   15 * torch.randn(200, 10, generator=g, dtype=torch.float64)])
    F = activation(z)
    fit = (1 - F).min(dim=1).values >= 1e-8
    z, F = z[fit], F[fit]
    y = torch.randint(0, 10, (len(z),), generator=g)
    assert len(z) > 100 and F.min() < 1e-20
    for reduction in ("none", "sum", "mean"):
        expected = get_loss(name).fn(F, y, reduction)
        torch.testing.assert_close(loss_of_z(z, y, reduction), expected, rtol=1e-8, atol=0)
        torch.testing.assert_close(loss_of_z(z, y, reduction, F), expected, rtol=1e-8, atol=0)


def test_the_cross_entropy_of_a_softmax_from_z_is_right_where_one_minus_f_is_not():
    """Where F_j rounds to 1, 1 − F_j is 0 and (35) of F clamps its logarithm at −100; from z,
    ln(1 − F_j) = ln Σ_{i≠j} e^(z_i) − ln Σ_i e^(z_i) comes out right (here −40), in float32 as
    in float64; and the clamp at −100 stays where (35) puts it."""
    for dtype in (torch.float32, torch.float64):
        z = torch.tensor([[0.0, -40.0, -1000.0], [0.0, -150.0, -150.0]], dtype=dtype)
        y = torch.tensor([1, 1])
        # row 0: −ln F_1 = 40, −ln(1 − F_0) = 40, −ln(1 − F_2) = 0; row 1: both clamped at 100
        value = losses.binary_cross_entropy_of_softmax(z, y, "none")
        torch.testing.assert_close(value, torch.tensor([80.0, 200.0], dtype=dtype))
        assert losses.binary_cross_entropy(torch.softmax(z, -1), y, "none")[0] > 139


# A saturated float32 output of a matched pair: z (one sample, 10 outputs), its label, the
# saturated output j, and what autograd through F = ψ(z) makes of ∂ℓ/∂z_j: "inf" (1/F_j
# overflows: 2.9·10⁻³⁹ > F_j > e^(−100)) or "stall" (0: F_j or 1 − F_j rounded to 0, the clamp
# flattened it; torch's σ(z) is 0 from z ≈ −88.8, where e^(−z) overflows).
SATURATED = [
    ("sigmoid", "binary_cross_entropy", [20.0] + [0.0] * 9, 1, 0, "stall"),     # F_0 rounds to 1
    ("sigmoid", "binary_cross_entropy", [0.0, -89.0] + [0.0] * 8, 1, 1, "stall"),  # F_1 → 0
    ("softmax", "log_likelihood", [0.0, -95.0] + [0.0] * 8, 1, 1, "inf"),        # ln F_1 ≈ −97
    ("sigmoid", "log_likelihood", [0.0, -89.0] + [0.0] * 8, 1, 1, "stall"),       # F_1 → 0
]


@pytest.mark.parametrize("output, name, z, label, j, through_F", SATURATED)
def test_a_loss_from_z_trains_on_where_through_f_it_would_not(output, name, z, label, j,
                                                              through_F):
    """A loss with a logarithm is taken from z in log space: in float32, where autograd through
    F = ψ(z) gets an infinite gradient (false divergence) or none (a stall), from z it gets the
    engine's (BP1), for a matched pair the chapter's δ = F − y (36), (37)."""
    activation = make_activation(output, OUTPUT_ACTIVATIONS, "output")
    z = torch.tensor([z], requires_grad=True)
    y = torch.tensor([label])
    losses.network_loss(name, activation)(z, y, "sum").backward()
    F = activation(z.detach())
    torch.testing.assert_close(z.grad, output_error(activation, name, z.detach(), F, y),
                               rtol=0, atol=1e-6)
    if (type(activation), name) in MATCHED_PAIRS:
        torch.testing.assert_close(z.grad, F - tf.one_hot(y, 10).float(), rtol=0, atol=1e-6)
    assert z.grad[0, j].abs() > 0.99
    z_through_F = z.detach().clone().requires_grad_()
    get_loss(name).fn(activation(z_through_F), y, "sum").backward()
    through = z_through_F.grad[0, j]
    assert (not through.isfinite()) if through_F == "inf" else through == 0
