"""Student's t without SciPy: its tail and bound against printed tables, Welch's degrees of
freedom against their closed forms."""

import math

import pytest

from mnist_mlp_lab.claims_rules import Difference
from mnist_mlp_lab.significance import t_bound, t_tail, welch_dof

# The 97.5th percentiles of Student's t (any printed table; 1e-3 as printed).
TABLE = {1: 12.706, 2: 4.303, 4: 2.776, 8: 2.306, 9: 2.262, 30: 2.042, 120: 1.980}


@pytest.mark.parametrize(("dof", "bound"), TABLE.items())
def test_the_bound_is_the_printed_tables(dof, bound):
    assert t_bound(dof) == pytest.approx(bound, abs=1e-3)
    assert t_tail(t_bound(dof), dof) == pytest.approx(0.05, rel=1e-6)


def test_many_degrees_of_freedom_are_the_normal_distribution():
    assert t_bound(1e7) == pytest.approx(1.959964, abs=1e-5)
    assert t_tail(1.0, 1e7) == pytest.approx(math.erfc(1 / math.sqrt(2)), rel=1e-5)


def test_the_tail_by_closed_forms():
    """One degree of freedom is Cauchy's: 1 − (2/π) atan t; two: 1 − t/√(2 + t²)."""
    for t in (0.0, 0.3, 1.0, 2.5, 40.0):
        assert t_tail(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), rel=1e-9)
        assert t_tail(-t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9)


def test_welch_degrees_of_freedom():
    assert welch_dof(0.3, 5, 0.3, 5) == pytest.approx(8)  # equal: n_a + n_b − 2
    assert welch_dof(0.3, 5, 0.0, 7) == pytest.approx(4)  # one side flat: its other's n − 1
    assert welch_dof(0.0, 5, 0.0, 7) == 10
    assert 4 < welch_dof(1.0, 5, 0.2, 5) < 8  # between the two


def test_no_degrees_of_freedom_let_nothing_count():
    """A bound without degrees of freedom is NaN, so that a difference made without them does
    not count, however large."""
    for dof in (math.nan, 0.0, -1.0):
        assert math.isnan(t_bound(dof))
    assert not Difference(0.05, 0.001).measurable


def test_the_edges_tiny_t_and_endless_degrees_of_freedom():
    """t² far below dof (x rounds to 1): the tail is 1 − O(t), not a log of 0; from 10⁷ degrees
    of freedom on, and for infinitely many, the normal distribution's bound."""
    assert t_tail(1e-8, 5) == pytest.approx(1, abs=1e-7) and t_tail(1e-5, 1e7) < 1
    assert t_tail(1e-4, 1e6) == pytest.approx(math.erfc(1e-4 / math.sqrt(2)), rel=1e-7)
    for dof in (1e7, 1e12, 1e300, math.inf):
        assert t_bound(dof) == pytest.approx(1.959963985, abs=1e-9)
    assert t_bound(1e7 - 1) == pytest.approx(1.959963985, abs=1e-6)
