"""The chapter's errata, shown: its softmax-gradient derivation against autograd on a real
mini-batch (mnist_mlp.textbook.softmax_gradient, mnist_mlp_lab.errata), its "about 1 in
14", the backpropagation box's loop, (35) as a likelihood, the L1 loss's 1/(2m), the backward
engineering's reference, saddle points, recall in words; and the list itself, in docs/claims.md.

With MNIST_DATA set (as in CI) the mini-batch is the first 10 real training digits; without it,
10 digits of the tiny generated MNIST."""

import os
import re
from pathlib import Path

import pytest
import torch

from mnist_mlp import MLP
from mnist_mlp.data import load_mnist
from mnist_mlp.textbook import softmax_gradient as derivation
from mnist_mlp_lab.errata import (
    BIAS_LINES,
    ERRATA,
    WEIGHT_LINES,
    backward_engineering_readings,
    box_against_backprop,
    chapter_one_in,
    errata_markdown,
    errors_removed,
    jacobian_chain,
    l1_gradient_ratio,
    likelihood_check,
    recall_readings,
    saddle_descent,
    softmax_derivation_check,
)

ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = os.environ.get("MNIST_DATA")
RIGHT = 1e-12  # float64: a line that equals autograd
WRONG = 1e-2  # a line that does not


@pytest.fixture(scope="module")
def digits(tiny_data):
    """(images, labels): real MNIST training digits where MNIST_DATA is set, else tiny ones."""
    data = load_mnist(REAL_DATA or tiny_data, validation_size=50 if not REAL_DATA else 10_000)
    return data.train.images[:100], data.train.labels[:100]


@pytest.fixture(scope="module")
def check(digits):
    return softmax_derivation_check(*digits)


def test_the_batch_is_real_where_mnist_data_is_set(digits):
    images, labels = digits
    if REAL_DATA:  # the first ten MNIST training labels
        assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert images.shape == (100, 784) and 0 <= float(images.min()) < float(images.max()) < 1


def test_the_chain_rule_line_is_right(check):
    assert check.bias["line 1 (chain rule)"] < RIGHT
    assert check.bias_scale > 0.1  # a real gradient, not zeros


def test_line_2_as_printed_differs_from_autograd_and_corrected_equals_it(check):
    """The softmax Jacobian's last term is F_n F_j; the chapter prints F_n²."""
    assert check.bias["line 2 as printed (F_n² term)"] > WRONG
    assert check.bias["line 2 corrected (F_n F_j term)"] < RIGHT


def test_printed_result_differs_from_autograd_and_corrected_equals_it(check):
    """The chapter's last line Σᵢ[F_nᵢ(xᵢ) − y_nᵢ], the same for every j, is not ∂L/∂b_j;
    Σᵢ[F_j(xᵢ) − y_ij] is."""
    assert check.bias["line 3 as printed, Σᵢ[F_nᵢ − y_nᵢ]"] > WRONG
    assert check.bias["line 3 corrected, Σᵢ[F_j − y_ij]"] < RIGHT


def test_the_weights_claim_holds_only_corrected(check):
    """∂L/∂W²_jk = Σᵢ (F_j(xᵢ) − y_ij) a¹_k(xᵢ), linear in the error as the chapter says; the
    printed bias line carried over would be wrong."""
    assert check.weight["as printed, Σᵢ[F_nᵢ − y_nᵢ] a¹_k"] > WRONG
    assert check.weight["corrected, Σᵢ[F_j − y_ij] a¹_k"] < RIGHT
    assert check.weight_scale > 0.01
    assert set(check.bias) == set(BIAS_LINES) and set(check.weight) == set(WEIGHT_LINES)


def test_the_printed_result_is_the_same_for_every_output_and_never_positive(digits):
    images, labels = digits
    torch.manual_seed(1)
    model = MLP(30, "sigmoid", "softmax", "normal").double()
    F = model(images[:10].double()).detach()
    printed, right = (derivation.bias_gradient_printed(F, labels[:10]),
                      derivation.bias_gradient(F, labels[:10]))
    assert torch.all(printed == printed[0]) and printed[0] <= 0
    assert torch.unique(right).numel() > 1
    torch.testing.assert_close(right.sum(), torch.tensor(0.0, dtype=torch.float64))  # Σ_j = 0


def test_on_a_trained_looking_network_too(digits):
    torch.manual_seed(5)
    model = MLP(12, "tanh", "softmax", "scaled_normal")
    check = softmax_derivation_check(*digits, model, batch_size=7)
    assert check.network == "l = 12 softmax network" and check.batch_size == 7
    assert check.bias["line 3 corrected, Σᵢ[F_j − y_ij]"] < RIGHT
    assert check.bias["line 3 as printed, Σᵢ[F_nᵢ − y_nᵢ]"] > WRONG
    with pytest.raises(ValueError, match="softmax"):
        softmax_derivation_check(*digits, MLP(5, "sigmoid", "sigmoid"))


def test_one_in_fourteen_is_one_in_fourteen_point_eight():
    """96.59 % → 96.82 % (l = 100, the chapter's figures): of the 3.41 % wrongly classified
    images, 0.23 points are now right — 1 in 14.8, not about 1 in 14."""
    one_in = chapter_one_in()
    assert (one_in.quadratic, one_in.cross_entropy) == (0.9659, 0.9682)
    assert one_in.share == pytest.approx((0.0341 - 0.0318) / 0.0341)
    assert round(one_in.one_in, 1) == 14.8
    assert abs(one_in.one_in - 14) > 0.5  # 14.8 rounds to 15, not to 14
    assert errors_removed(0.9, 0.95) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        errors_removed(1.0, 1.0)


def test_the_box_makes_quadratically_many_jacobian_products():
    """The box's loop, k = 1 … n with every following Jacobian multiplied afresh, makes
    n(n + 1)/2 products; backpropagation, k = n … 1 reusing the running product, 2n − 1. Both
    give the same rows."""
    for n in range(1, 9):
        box, backprop, difference = box_against_backprop(n)
        assert (box, backprop) == (n * (n + 1) // 2, 2 * n - 1)
        assert difference < 1e-9
    assert box_against_backprop(10)[:2] == (55, 19)
    # the rows are the chapter's products, (∇L)ᵀ Df⁽ⁿ⁾ ⋯ Df⁽ᵏ⁺¹⁾ Dg⁽ᵏ⁾, by hand for n = 2
    g = torch.Generator().manual_seed(1)
    Df, Dg = [torch.randn(3, 3, generator=g) for _ in range(2)], [
        torch.randn(3, 3, generator=g) for _ in range(2)]
    grad = torch.randn(3, generator=g)
    rows, _ = jacobian_chain(grad, Df, Dg, reuse=True)
    torch.testing.assert_close(rows[0], grad @ Df[1] @ Dg[0])
    torch.testing.assert_close(rows[1], grad @ Dg[1])


def test_eq35_is_a_negative_log_likelihood_only_for_independent_sigmoids():
    """For independent sigmoid outputs (35) is −ln Πⱼ Fⱼ^yⱼ (1 − Fⱼ)^(1 − yⱼ), a likelihood that
    sums to 1 over the target vectors; for a softmax output it is more than −ln F_y, and
    e^(−(35)) over the ten labels does not sum to 1."""
    check = likelihood_check()
    assert check.sigmoid_gap < 1e-12 and check.sigmoid_mass == pytest.approx(1.0, abs=1e-12)
    assert check.softmax_gap > 0.01 and check.softmax_mass < 0.99


def test_the_chapters_l1_loss_has_half_the_gradient_of_the_mean_absolute_error():
    assert l1_gradient_ratio() == 0.5
    assert l1_gradient_ratio(m=1, seed=3) == 0.5


def test_backward_engineering_compares_with_37_not_36():
    """∂L/∂F read off (37) through ∂L/∂b = (∂L/∂F) F' is the cross-entropy's (F − y)/(F(1 − F));
    read off (36) it is x times that, the same only where x = 1."""
    for w, b, x, y in [(0.6, 0.9, 2.0, 0.0), (-1.0, 0.3, -0.5, 1.0), (2.0, 2.0, 1.0, 0.0)]:
        from_37, from_36, own = backward_engineering_readings(w, b, x, y)
        assert from_37 == pytest.approx(own, rel=1e-12)
        assert from_36 == pytest.approx(x * own, rel=1e-12)
        assert (from_36 == pytest.approx(own)) == (x == 1.0)


def test_gradient_descent_converges_to_a_saddle_point():
    """On x² − y² from (1, 0), descent converges where the gradient vanishes: a saddle point,
    its Hessian's eigenvalues of both signs; off the axis it escapes."""
    run = saddle_descent()
    assert max(map(abs, run.end)) < 1e-12 and run.gradient_norm < 1e-12
    low, high = run.hessian_eigenvalues
    assert low < 0 < high
    assert abs(saddle_descent(start=(1.0, 1e-6)).end[1]) > 1.0


def test_recall_is_the_share_of_actual_positives_found():
    """Recall is TP/(TP + FN), the share of the actual positives identified as positive; the
    chapter's sentence, actual positives over outcomes identified as positive, is another
    number."""
    confusion = torch.tensor([[50, 10], [20, 20]])  # rows: true; TP 20, FN 20, FP 10
    readings = recall_readings(confusion)
    assert readings["formula"] == readings["share of actual positives found"] == 0.5
    assert readings["sentence: actual over identified positives"] == pytest.approx(40 / 30)


def test_every_erratum_names_tests_that_exist_or_says_why_not():
    ids = [e.id for e in ERRATA]
    assert len(ids) == len(set(ids)) >= 11
    for erratum in ERRATA:
        assert bool(erratum.tests) != bool(erratum.untested), erratum.id
        for test in erratum.tests:
            path, name = test.split("::")
            assert f"def {name}(" in (ROOT / path).read_text(), test


def test_the_docs_errata_are_the_generated_list():
    """The Errata of docs/claims.md are ``errata_markdown()``, word for word."""
    page = (ROOT / "docs" / "claims.md").read_text()
    section = page[page.index("\n## Errata\n"):]
    end = section.find("\n## ", 1)  # the next section, if any
    section = section if end < 0 else section[:end]
    bullets = "\n".join(line for line in section.splitlines() if line.startswith("* "))
    assert bullets == errata_markdown()
    assert re.search(r"errata\.py", section)
