"""The learning slowdown of one sigmoid neuron, the chapter's toy example (Nielsen ch. 3):
the quadratic cost's gradient σ(w + b)σ'(w + b) against the cross-entropy's (36) and (37), by
hand and against autograd all along a run, and the claim (``mnist_mlp.textbook.neuron``; the
lab's ``scripts/slowdown.py`` plots it: tests/lab/test_slowdown.py)."""

import math

import pytest

from mnist_mlp.textbook.neuron import (
    COSTS,
    SATURATED_START,
    UNSATURATED_START,
    cross_entropy_gradients,
    quadratic_gradients,
    train_neuron,
)


@pytest.fixture(scope="module")
def runs():
    """Nielsen's defaults (η = 0.15, 300 epochs, x = 1, y = 0): runs[start][cost]."""
    return {start: {cost: train_neuron(cost, *wb) for cost in COSTS}
            for start, wb in (("saturated", SATURATED_START), ("unsaturated", UNSATURATED_START))}


def test_starts_are_the_textbooks():
    assert train_neuron("quadratic", *SATURATED_START, epochs=1).output[0] == pytest.approx(
        0.98, abs=0.005)
    assert train_neuron("quadratic", *UNSATURATED_START, epochs=1).output[0] == pytest.approx(
        0.82, abs=0.005)


@pytest.mark.parametrize("start", ["saturated", "unsaturated"])
@pytest.mark.parametrize("cost", COSTS)
def test_analytic_gradients_equal_autograd_all_along_a_run(runs, start, cost):
    run = runs[start][cost]
    assert len(run.loss) == len(run.grad_w) == len(run.grad_w_analytic) == 301
    for name in ("grad_w", "grad_b"):
        autograd, analytic = getattr(run, name), getattr(run, f"{name}_analytic")
        for a, b in zip(autograd, analytic, strict=True):
            assert a == pytest.approx(b, rel=0, abs=1e-12)
    assert run.max_gradient_error() < 1e-12


@pytest.mark.parametrize("x,y", [(1.0, 0.0), (-0.7, 1.0), (2.5, 0.3)])
@pytest.mark.parametrize("cost", COSTS)
def test_analytic_gradients_for_other_examples(cost, x, y):
    run = train_neuron(cost, 0.4, -1.2, lr=0.5, epochs=40, x=x, y=y)
    assert run.max_gradient_error() < 1e-12


def test_gradient_formulas_by_hand():
    s = 1 / (1 + math.exp(-4.0))  # w = b = 2, x = 1
    assert quadratic_gradients(2.0, 2.0, 1.0, 0.0) == pytest.approx((s * s * (1 - s),) * 2)
    assert cross_entropy_gradients(2.0, 2.0, 1.0, 0.0) == pytest.approx((s, s))
    dw, db = quadratic_gradients(2.0, 2.0, 3.0, 0.5)
    assert dw == pytest.approx(3 * db)


def test_gradient_descent_step(runs):
    run = runs["saturated"]["quadratic"]
    for e in range(run.epochs):
        assert run.w[e + 1] == pytest.approx(run.w[e] - run.lr * run.grad_w[e], abs=1e-15)
        assert run.b[e + 1] == pytest.approx(run.b[e] - run.lr * run.grad_b[e], abs=1e-15)


def test_the_slowdown_saturated_start(runs):
    """From w = b = 2 (F ≈ 0.98), after 50 steps at η = 0.15 the quadratic cost has barely moved
    (F ≈ 0.976, cost down 1%) while cross-entropy has learned (F ≈ 0.10, cost down 97%)."""
    quad, xent = runs["saturated"]["quadratic"], runs["saturated"]["cross_entropy"]
    assert quad.output[50] > 0.9
    assert xent.output[50] < 0.2
    assert quad.loss[50] > 0.95 * quad.loss[0]
    assert xent.loss[50] < 0.05 * xent.loss[0]
    assert xent.loss[50] < quad.loss[50] / 4
    # the error |F − y| left after 50 steps: about 10 times smaller under cross-entropy
    assert xent.output[50] < quad.output[50] / 5
    # the quadratic neuron does learn in the end, once it leaves saturation
    assert quad.output[300] < 0.3


def test_both_costs_learn_from_the_unsaturated_start(runs):
    for run in runs["unsaturated"].values():
        assert run.loss[300] < run.loss[0] / 50
        assert run.output[300] < 0.1
        steps = zip(run.loss[:-1], run.loss[1:], strict=True)
        assert all(later <= earlier for earlier, later in steps)


def test_quadratic_gradient_is_smaller_when_more_wrong(runs):
    saturated, unsaturated = runs["saturated"]["quadratic"], runs["unsaturated"]["quadratic"]
    assert saturated.output[0] - saturated.y > unsaturated.output[0] - unsaturated.y
    assert saturated.loss[0] > unsaturated.loss[0]
    assert abs(saturated.grad_w[0]) < abs(unsaturated.grad_w[0]) / 5
    assert abs(saturated.grad_b[0]) < abs(unsaturated.grad_b[0]) / 5
    # cross-entropy is the other way round: the more wrong, the larger the gradient
    xs, xu = runs["saturated"]["cross_entropy"], runs["unsaturated"]["cross_entropy"]
    assert xs.grad_w[0] > xu.grad_w[0]


@pytest.mark.parametrize("kwargs", [
    {"cost": "absolute"}, {"cost": "mse"}, {"epochs": 0}, {"epochs": -3}, {"epochs": 2.5},
    {"lr": 0.0}, {"lr": -0.1}, {"lr": math.nan}, {"lr": math.inf}, {"w0": math.nan},
])
def test_bad_arguments(kwargs):
    args = {"cost": "quadratic", "w0": 2.0, "b0": 2.0} | kwargs
    with pytest.raises(ValueError):
        train_neuron(**args)
