"""The chapter's errors: what each is, and the computation that shows it where one can.

``ERRATA`` lists them in the chapter's order, each with the test that shows it (none where the
slip is one of words); ``errata_markdown`` renders them for README and ``claims.md``. The checks:

* ``softmax_derivation_check``: autograd's ∂L/∂b² and ∂L/∂W² of the summed softmax
  cross-entropy on a mini-batch of MNIST digits beside each line of the chapter's derivation, as
  printed and corrected (``mnist_mlp.textbook.softmax_gradient``);
* ``errors_removed``: the share of wrongly classified images one accuracy removes against
  another — the chapter's 96.59 % → 96.82 % removes 1 in 14.8, where it says about 1 in 14;
* ``jacobian_chain``: the backpropagation box's loop (k = 1 … n, every product formed afresh)
  against backpropagation's (k = n … 1, the running product reused), products counted;
* ``likelihood_check``: (35) is −ln of a likelihood for independent sigmoid outputs, not for a
  softmax output;
* ``l1_gradient_ratio``: the chapter's L1 loss has half the gradient of the mean absolute error;
* ``backward_engineering_readings``: ∂L/∂F read off (37), as the derivation needs, and off (36);
* ``saddle_descent``: gradient descent converging to a saddle point, where the gradient vanishes;
* ``recall_readings``: recall by its formula and by the chapter's sentence about it.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from mnist_mlp.textbook import (
    MLP,
    binary_cross_entropy,
    binary_cross_entropy_grad,
    classification_report,
    cross_entropy_gradients,
    log_likelihood,
    mae_loss,
    sigmoid,
    sigmoid_prime,
)
from mnist_mlp.textbook import softmax_gradient as derivation

from .configurations import configuration

BIAS_LINES = {
    "line 1 (chain rule)": derivation.bias_gradient_line1,
    "line 2 as printed (F_n² term)": derivation.bias_gradient_line2_printed,
    "line 2 corrected (F_n F_j term)": derivation.bias_gradient_line2,
    "line 3 as printed, Σᵢ[F_nᵢ − y_nᵢ]": derivation.bias_gradient_printed,
    "line 3 corrected, Σᵢ[F_j − y_ij]": derivation.bias_gradient,
}
"""The lines of the chapter's derivation of ∂L/∂b², by name."""
WEIGHT_LINES = {
    "as printed, Σᵢ[F_nᵢ − y_nᵢ] a¹_k": derivation.weight_gradient_printed,
    "corrected, Σᵢ[F_j − y_ij] a¹_k": derivation.weight_gradient,
}
"""∂L/∂W², which the chapter says is linear in the error too: the printed bias line carried
over, for contrast, and the corrected form."""


@dataclass(frozen=True)
class DerivationCheck:
    """Each line of the derivation against autograd on one mini-batch, in float64."""

    network: str
    batch_size: int
    bias_scale: float  # the largest |∂L/∂b²_j| from autograd
    weight_scale: float  # the largest |∂L/∂W²_jk| from autograd
    bias: dict[str, float]  # line → max |line − autograd| over j
    weight: dict[str, float]  # line → max |line − autograd| over j, k


def softmax_derivation_check(images: Tensor, labels: Tensor, model: MLP | None = None, *,
                             batch_size: int = 10, seed: int = 0) -> DerivationCheck:
    """Autograd's output-layer gradients of ``log_likelihood(F, labels, "sum")`` on the first
    ``batch_size`` of ``images`` (N, 784) and ``labels``, against every line of the chapter's
    derivation; for ``model`` (a copy, softmax output) or a fresh l = 30 softmax network with
    N(0, 1) weights seeded with ``seed`` (the reproduction's initialisation)."""
    if model is None:
        torch.manual_seed(seed)
        model = MLP(30, "sigmoid", "softmax", "normal")
    if model.output_activation_name != "softmax":
        raise ValueError("the chapter's derivation is for a softmax output layer")
    if len(images) < batch_size:
        raise ValueError(f"a mini-batch of {batch_size} needs {batch_size} images, "
                         f"got {len(images)}")
    model = copy.deepcopy(model).to("cpu", torch.float64)
    x = images[:batch_size].to("cpu", torch.float64)
    y = labels[:batch_size].to("cpu")
    F = model(x)
    db, dW = torch.autograd.grad(log_likelihood(F, y, reduction="sum"),
                                 (model.output.bias, model.output.weight))
    F, a1 = F.detach(), model.hidden_activations(x).detach()
    return DerivationCheck(
        network=f"l = {model.hidden_size} softmax network",
        batch_size=batch_size,
        bias_scale=float(db.abs().max()), weight_scale=float(dW.abs().max()),
        bias={name: float((line(F, y) - db).abs().max()) for name, line in BIAS_LINES.items()},
        weight={name: float((line(F, y, a1) - dW).abs().max())
                for name, line in WEIGHT_LINES.items()})


def errors_removed(before: float, after: float) -> float:
    """The share of the wrongly classified images at accuracy ``before`` that are right at
    ``after``: ``((1 − before) − (1 − after)) / (1 − before)``."""
    if not 0 <= before < 1:
        raise ValueError(f"accuracy before must lie in [0, 1), got {before}")
    return (after - before) / (1 - before)


@dataclass(frozen=True)
class OneIn:
    """The chapter's l = 100 figures and what going from one to the other removes."""

    quadratic: float
    cross_entropy: float
    share: float  # of the quadratic cost's errors, removed by the cross-entropy
    one_in: float  # 1 / share


def chapter_one_in() -> OneIn:
    """The chapter's "1 in 14", recomputed from its own figures (96.59 % → 96.82 %)."""
    before = configuration("l100-quadratic").textbook
    after = configuration("l100-cross_entropy").textbook
    assert before is not None and after is not None  # the chapter quotes both
    share = errors_removed(before, after)
    return OneIn(before, after, share, 1 / share)


# --- the backpropagation box -------------------------------------------------------------------


def jacobian_chain(grad: Tensor, Df: list[Tensor], Dg: list[Tensor], *, reuse: bool
                   ) -> tuple[list[Tensor], int]:
    """The rows ``(∇L)ᵀ Df⁽ⁿ⁾ ⋯ Df⁽ᵏ⁺¹⁾ Dg⁽ᵏ⁾`` for k = 1 … n (``Df[k − 1]``, ``Dg[k − 1]`` of
    layer k), and how many vector–matrix products made them.

    ``reuse=False`` is the chapter's box: for k = 1 … n it multiplies all the following Jacobians
    afresh, n − k + 1 products for layer k, n(n + 1)/2 in all. ``reuse=True`` is
    backpropagation: k = n … 1, carrying the running product (∇L)ᵀ Df⁽ⁿ⁾ ⋯ Df⁽ᵏ⁺¹⁾ down one layer
    at a time, two products a layer but the first, 2n − 1 in all.
    """
    n, rows, products = len(Dg), [torch.empty(0)] * len(Dg), 0
    if reuse:
        running = grad
        for k in range(n, 0, -1):
            rows[k - 1], products = running @ Dg[k - 1], products + 1
            if k > 1:
                running, products = running @ Df[k - 1], products + 1
        return rows, products
    for k in range(1, n + 1):
        row = grad
        for following in range(n, k, -1):
            row, products = row @ Df[following - 1], products + 1
        rows[k - 1], products = row @ Dg[k - 1], products + 1
    return rows, products


def box_against_backprop(layers: int, width: int = 5, seed: int = 0) -> tuple[int, int, float]:
    """For ``layers`` random square Jacobians of ``width``, float64: the products the box makes,
    those backpropagation makes, and the largest difference between their rows."""
    g = torch.Generator().manual_seed(seed)
    Df, Dg = ([torch.randn(width, width, generator=g, dtype=torch.float64)
               for _ in range(layers)] for _ in range(2))
    grad = torch.randn(width, generator=g, dtype=torch.float64)
    box, box_products = jacobian_chain(grad, Df, Dg, reuse=False)
    back, back_products = jacobian_chain(grad, Df, Dg, reuse=True)
    return box_products, back_products, max(float((a - b).abs().max()) for a, b in zip(
        box, back, strict=True))


# --- the losses --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LikelihoodCheck:
    """(35) against −ln of the likelihood of the labels, for softmax and for sigmoid outputs."""

    softmax_gap: float  # smallest (35) − (−ln F_y) over the samples: > 0, (35) is not −ln F_y
    softmax_mass: float  # largest Σ over the 10 labels of e^(−(35)): < 1, no distribution
    sigmoid_gap: float  # largest |(35) − (−ln Πⱼ Fⱼ^yⱼ (1 − Fⱼ)^(1 − yⱼ))|: 0
    sigmoid_mass: float  # Σ over all 2¹⁰ target vectors of e^(−(35)), one sample: 1
    samples: int  # random outputs drawn of each kind


def likelihood_check(samples: int = 5, seed: int = 0) -> LikelihoodCheck:
    """``samples`` random softmax outputs and as many independent sigmoid outputs, float64.

    A softmax output is one distribution over the ten labels: the likelihood of label y is F_y,
    and the first term of (35) alone is its −ln. (35) adds −Σ_{j≠y} ln(1 − F_j), so that
    e^(−(35)) summed over the labels falls short of 1. Ten independent sigmoid outputs model ten
    yes/no targets: the likelihood of a target vector y is Πⱼ Fⱼ^yⱼ (1 − Fⱼ)^(1 − yⱼ), whose −ln
    is (35) exactly, and which sums to 1 over the 2¹⁰ target vectors.
    """
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, 10, generator=g, dtype=torch.float64)
    F, labels = torch.softmax(z, dim=1), torch.arange(samples) % 10
    eq35 = binary_cross_entropy(F, labels, reduction="none")
    gap = eq35 - log_likelihood(F, labels, reduction="none")
    every_label = torch.arange(10)
    mass = torch.stack([binary_cross_entropy(f.expand(10, 10), every_label, "none").neg().exp()
                        .sum() for f in F])
    S = torch.sigmoid(z)
    targets = torch.tensor(list(itertools.product((0.0, 1.0), repeat=10)), dtype=torch.float64)
    bernoulli = (S.unsqueeze(1) ** targets * (1 - S.unsqueeze(1)) ** (1 - targets)).prod(-1)
    sigmoid_eq35 = torch.stack([binary_cross_entropy(s.expand_as(targets), targets, "none")
                                for s in S])
    return LikelihoodCheck(float(gap.min()), float(mass.max()),
                           float((sigmoid_eq35 + bernoulli.log()).abs().max()),
                           float(sigmoid_eq35[0].neg().exp().sum()), samples)


def l1_gradient_ratio(m: int = 7, seed: int = 0) -> float:
    """∂L/∂F of the chapter's L1 loss, 1/(2m) Σᵢ ‖F(xᵢ) − yᵢ‖₁ (``mae_loss``), over that of the
    mean absolute error 1/m Σᵢ ‖F(xᵢ) − yᵢ‖₁, the same for every entry: ½. The ½ of the L2 loss
    cancels the 2 of the square's derivative; the L1 loss has no square, and its ½ halves the
    step that η makes."""
    g = torch.Generator().manual_seed(seed)
    F = torch.rand(m, 10, generator=g, dtype=torch.float64).requires_grad_()
    y = torch.randint(0, 10, (m,), generator=g)
    (chapter,) = torch.autograd.grad(mae_loss(F, y), F)
    (usual,) = torch.autograd.grad((F - torch.nn.functional.one_hot(y, 10)).abs().sum() / m, F)
    ratios = chapter / usual
    if not torch.allclose(ratios, ratios.flatten()[0].expand_as(ratios)):
        raise AssertionError("the ratio differs between entries")
    return float(ratios.flatten()[0])


def backward_engineering_readings(w: float, b: float, x: float, y: float
                                  ) -> tuple[float, float, float]:
    """∂L/∂F of one sigmoid neuron F = σ(wx + b), read off ∂L/∂b = (∂L/∂F) F' with ∂L/∂b from
    (37), and read the same way off (36), ∂L/∂w; and the cross-entropy's own ∂L/∂F,
    (F − y)/(F(1 − F)). The first equals the last; the second is x times it."""
    z = w * x + b
    from_36, from_37 = cross_entropy_gradients(w, b, x, y)
    own = binary_cross_entropy_grad(torch.tensor([[sigmoid(z)]], dtype=torch.float64),
                                    torch.tensor([[y]], dtype=torch.float64))
    return from_37 / sigmoid_prime(z), from_36 / sigmoid_prime(z), float(own)


# --- gradient descent and the measures -----------------------------------------------------------


@dataclass(frozen=True)
class SaddleDescent:
    """Gradient descent on f(x, y) = x² − y², from a point with y = 0."""

    end: tuple[float, float]
    gradient_norm: float  # |∇f| at the end: 0, so descent has converged
    hessian_eigenvalues: tuple[float, float]  # one positive, one negative: a saddle


def saddle_descent(start: tuple[float, float] = (1.0, 0.0), lr: float = 0.1,
                   steps: int = 200) -> SaddleDescent:
    """θ ← θ − η ∇f on f(x, y) = x² − y² (float64): from y = 0 the gradient never points off the
    x-axis, and descent converges to (0, 0), where ∇f vanishes and f has no extremum."""
    theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)

    def f(t: Tensor) -> Tensor:
        return t[0] ** 2 - t[1] ** 2

    for _ in range(steps):
        (grad,) = torch.autograd.grad(f(theta), theta)
        with torch.no_grad():
            theta -= lr * grad
    (grad,) = torch.autograd.grad(f(theta), theta)
    eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, theta.detach()))
    x, y = theta.detach().tolist()
    low, high = eigenvalues.tolist()
    return SaddleDescent((x, y), float(grad.norm()), (low, high))


def recall_readings(confusion: Tensor, positive: int = 1) -> dict[str, float]:
    """For class ``positive`` of a confusion matrix (rows: true, columns: predicted): recall by
    its formula TP/(TP + FN) (``classification_report``), and by the chapter's sentence, actual
    positives over outcomes identified as positive, (TP + FN)/(TP + FP)."""
    tp = float(confusion[positive, positive])
    actual, identified = float(confusion[positive].sum()), float(confusion[:, positive].sum())
    return {"formula": float(classification_report(confusion).recall[positive]),
            "share of actual positives found": tp / actual,
            "sentence: actual over identified positives": actual / identified}


# --- the list ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erratum:
    """One error of the chapter: where and what, in our words, and the tests that show it."""

    id: str  # the id of its statement in the claims table (``statements``)
    title: str
    text: str
    tests: tuple[str, ...] = ()
    untested: str = ""  # why there is no test: a slip of words or symbols


T = "tests/lab/test_errata.py::"
ERRATA: tuple[Erratum, ...] = (
    Erratum("mae", "The L1 loss's 1/(2m).",
            "The ½ of the L2 loss cancels the 2 of the square's derivative; the L1 loss has no "
            "square, and with 1/(2m) its gradient is half that of the mean absolute error "
            "1/m Σᵢ ‖F(xᵢ) − yᵢ‖₁ — as if η were halved.",
            (T + "test_the_chapters_l1_loss_has_half_the_gradient_of_the_mean_absolute_error",)),
    Erratum("speed-of-learning", "\"Learning rate\" for two things.",
            "Discussing the losses, the chapter calls the speed of learning, set by ∂L/∂θ, the "
            "learning rate, twice; from gradient descent on, the learning rate is η, the step "
            "size, which multiplies ∂L/∂θ.",
            untested="a choice of words"),
    Erratum("backward-engineering", "\"In comparison to (36)\" means (37).",
            "The backward engineering writes ∂L/∂b = (∂L/∂F) F' and compares it with a gradient "
            "of the neuron to find ∂L/∂F = (F − y)/(F(1 − F)): that is (37), ∂L/∂b = σ − y; "
            "compared with (36), ∂L/∂w = x(σ − y), it would give x times that.",
            (T + "test_backward_engineering_compares_with_37_not_36",)),
    Erratum("softmax-first-term", "Which loss for a softmax output.",
            "Introducing the softmax output, the chapter keeps the first term of (35) and calls "
            "that form the appropriate one for softmax; its MNIST recipe then prescribes (35), "
            "both terms, on a softmax output. Both train: the reproduction's `softmax` and "
            "`softmax_eq35` rows, and the claims' sweep of output layers and losses.",
            untested="two sentences that disagree; the claims table measures both losses"),
    Erratum("softmax-bias-gradient", "The softmax bias gradient.",
            "The derivation's second line has F_nᵢ² where the softmax Jacobian gives F_nᵢ F_j, "
            "and its last line, Σᵢ [F_nᵢ(xᵢ) − y_nᵢ], is the same for every output j; the "
            "gradient is Σᵢ [F_j(xᵢ) − y_ij]. On real MNIST digits the printed lines differ from "
            "autograd and the corrected ones equal it (the claims table says by how much); each "
            "line is a function of `mnist_mlp/textbook/softmax_gradient.py`. The conclusion "
            "drawn from it — a gradient linear in the error — holds for the corrected line.",
            (T + "test_line_2_as_printed_differs_from_autograd_and_corrected_equals_it",
             T + "test_printed_result_differs_from_autograd_and_corrected_equals_it")),
    Erratum("extremum", "A vanishing gradient marks more than extrema.",
            "Vanishing derivatives are necessary for an extremum, not sufficient: gradient "
            "descent comes to rest wherever every derivative vanishes, at saddle points too, "
            "though only from special starts. On f(x, y) = x² − y², descent from (1, 0), on the "
            "saddle's stable line, converges to the saddle point (0, 0); from (1, 10⁻⁸) it "
            "escapes.",
            (T + "test_gradient_descent_converges_to_a_saddle_point",)),
    Erratum("backprop-box", "The backpropagation box runs forward.",
            "Its loop takes k = 1 … n, so its first pass needs Df⁽ⁿ⁾ ⋯ Df⁽²⁾, which the loop "
            "computes only in later passes, and it redoes the output layer, already done before "
            "the loop. Run backwards, k = n … 1, each Jacobian is computed once, as the text "
            "before the box says, and the running product (∇L)ᵀ Df⁽ⁿ⁾ ⋯ Df⁽ᵏ⁺¹⁾ is reused: 2n − 1 "
            "products for n layers, where multiplying all the following Jacobians afresh for "
            "each layer makes n(n + 1)/2. Its output line also writes ∂L/∂θ⁽ⁿ⁾ and θ⁽ⁿ⁾ where "
            "it means θ⁽ᵏ⁾ of every layer k (a slip of symbols).",
            (T + "test_the_box_makes_quadratically_many_jacobian_products",)),
    Erratum("figures", "Whose figures.",
            "The figures quoted beside the MNIST recipe (softmax output, cross-entropy (35)) "
            "were made with sigmoid outputs (Nielsen's runs), not with the recipe; the recipe's "
            "own runs, the reproduction's `softmax_eq35` rows, are measured apart (the claims "
            "table says whether they reach the figures too).",
            ("tests/lab/test_reproduce.py::test_the_configurations_with_the_textbook_figures",)),
    Erratum("quadratic-figures", "The quadratic figures' η.",
            "The sentence that quotes the MNIST figures sets η = 0.5 for both costs; the "
            "quadratic cost's 95.42 % and 96.59 % come from Nielsen's runs at η = 3.0 (his "
            "ch. 1). The reproduction runs the quadratic cost at both (`quadratic` and "
            "`quadratic_eta0.5`).",
            ("tests/lab/test_reproduce.py::test_the_configurations_with_the_textbook_figures",
             "tests/lab/test_claims.py::test_the_costs_are_compared_at_both_etas_stalls_counted")),
    Erratum("one-in-14", "\"About 1 in 14\".",
            "Going from 96.59 % to 96.82 % removes (3.41 − 3.18) / 3.41 of the wrongly "
            "classified pictures: 1 in 14.8, nearer 15.",
            (T + "test_one_in_fourteen_is_one_in_fourteen_point_eight",)),
    Erratum("recall-prose", "Recall in words.",
            "The formula, TP/(TP + FN), is right; the sentence after it calls recall the ratio "
            "between the actual positives and the outcomes identified as positive, which reads "
            "as (TP + FN)/(TP + FP). Recall is the share of the actual positives that are "
            "identified as positive.",
            (T + "test_recall_is_the_share_of_actual_positives_found",)),
)
"""The chapter's errors, in its order."""


def errata_markdown() -> str:
    """``ERRATA`` as a Markdown list, each with its tests: README's Errata and ``claims.md``'s."""
    lines = []
    for e in ERRATA:
        shown = ", ".join(f"`{t}`" for t in e.tests) if e.tests else f"no test: {e.untested}"
        lines.append(f"* **{e.title}** {e.text} ({shown})")
    return "\n".join(lines)
