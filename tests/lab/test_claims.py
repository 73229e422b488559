"""The chapter, claim by claim (scripts/claims.py): the measurements on the tiny generated MNIST,
the table held to the chapter's statements, the rule of every verdict fed numbers that support
and numbers that contradict its statement, the L1/L2 fits, the backward-engineered
cross-entropy, the statements checked as written here, the script's errors."""

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mnist_mlp.textbook.losses import log_likelihood, mae_loss, mse_loss
from mnist_mlp.training import DivergenceError
from mnist_mlp_lab import claims_rows, sweeps
from mnist_mlp_lab import claims_rules as rule
from mnist_mlp_lab.claim_settings import ClaimSettings, quick_settings
from mnist_mlp_lab.claims import Reproduced, ReproductionLink, load, run_claims
from mnist_mlp_lab.claims_plots import FIGURES
from mnist_mlp_lab.claims_report import markdown, rows, save
from mnist_mlp_lab.errata import ERRATA
from mnist_mlp_lab.loss_claims import TRUE_LINE, backward_engineering, l1_l2_fits
from mnist_mlp_lab.statements import BEYOND, ERRATUM, IDS, MEASURED, STATEMENTS
from mnist_mlp_lab.sweeps import Point

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG = {name: f"`claims_{name}.png`" for name in FIGURES}


@pytest.fixture(scope="module")
def claims(tiny_data):
    settings = ClaimSettings(seeds=2, epochs=2, train_size=200, validation_size=50,
                             lrs=(0.01, 0.5, 100.0), hidden_sizes=(10, 30),
                             batch_sizes=(1, 10, 100), updates=20, data_dir=str(tiny_data),
                             device="cpu", reproduction=str(ROOT / "results/reproduction.json"))
    lines = []
    result = run_claims(settings, lines.append, "python scripts/claims.py")
    result.lines = lines
    return result


@pytest.fixture(scope="module")
def saved(claims, tmp_path_factory):
    return save(claims, tmp_path_factory.mktemp("claims"))


def test_quick_claims_on_tiny_digits(claims):
    """Every sweep has its points and seeds; the fixed-update points made the updates asked; the
    recipe's choices are labelled, the recipe itself trained once."""
    assert [p.value for p in claims.learning_rate] == [0.01, 0.5, 100.0]
    assert [p.value for p in claims.hidden_size] == [10, 30]
    for points in (claims.learning_rate, claims.hidden_size, claims.batch_size.epochs,
                   claims.activation, claims.output):
        assert all(len(p.final) == 2 and p.epochs == 2 for p in points)
    assert [p.updates for p in claims.batch_size.updates] == [20, 20, 20]
    assert [p.updates_per_epoch for p in claims.batch_size.epochs] == [200, 20, 2]
    assert all(0 < a <= 1 for p in claims.hidden_size for a in p.final)
    assert [p.label for p in claims.activation] == ["sigmoid", "tanh", "relu"]
    assert [p.label for p in claims.output] == ["softmax + (35)", "sigmoid + (35)",
                                                "softmax + first term", "sigmoid + first term"]
    assert [p.value for p in claims.output] == [0, 1, 2, 3]
    recipe = claims.hidden_size[1]  # l = 30, the base: not trained again by the choice sweeps
    assert claims.activation[0].final == claims.output[0].final == recipe.final
    assert any("learning rate" in line for line in claims.lines)
    assert any("hidden activation: relu" in line for line in claims.lines)
    assert claims.derivation.bias["line 3 corrected, Σᵢ[F_j − y_ij]"] < 1e-12
    assert round(claims.one_in.one_in, 1) == 14.8
    assert len(claims.unbalanced) == 10


def test_the_sweeps_train_the_chapters_recipe():
    base = ClaimSettings().base()
    assert (base.activation, base.output_activation, base.loss, base.init, base.lr,
            base.batch_size, base.hidden_size) == ("sigmoid", "softmax", "binary_cross_entropy",
                                                   "normal", 0.5, 10, 30)


def test_report_has_a_row_per_statement_and_every_figure(saved):
    text = saved["md"].read_text()
    table = text[text.index("| # | the chapter says"):].split("\n\n")[0].splitlines()[2:]
    lines = [line for line in table if re.match(r"\| \d+ \|", line)]
    assert len(lines) == len(table) == len(STATEMENTS)
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert len(cells) == 6 and all(cells), line  # #, statement, code, test, figure, verdict
    for name in FIGURES:
        assert saved[name].read_bytes().startswith(PNG_MAGIC)
        assert f"]({saved[name].name})" in text
    assert "Erratum" in text and "1 in 14.8" in text and "Wall time" in text
    assert "## How each verdict is computed" in text and "## Errata" in text
    assert f"{len(STATEMENTS)} statements, every one the chapter makes" in text
    data = json.loads(saved["json"].read_text())
    assert {"learning_rate", "hidden_size", "batch_size", "activation", "output", "derivation",
            "machine"} <= set(data)


def named_tests(cell: str) -> list[tuple[str, str]]:
    """The tests a table cell names: `path::name`, and `::name` in the same file as before."""
    named, path = [], None
    for item in re.findall(r"`([^`]*::\w+)`", cell):
        where, name = item.split("::")
        path = where or path
        named.append((path, name))
    return named


def test_the_table_is_the_chapters_list_of_statements(claims):
    """One row per statement of ``statements.STATEMENTS``, in its order; each names its code, a
    test that exists and a verdict — or says that it is beyond a test. A measured row or an
    erratum has its rule in the legend and names a test of that rule."""
    table = rows(claims, PNG)
    assert [r.id for r in table] == list(IDS) and len(set(IDS)) == len(IDS) >= 50
    for row, statement in zip(table, STATEMENTS, strict=True):
        assert row.statement == statement.says and row.verdict
        if statement.kind == BEYOND:
            assert row.test == "—" and "beyond a test" in row.verdict
            continue
        assert row.code.startswith("`mnist_mlp")
        assert all((ROOT / path).is_file() for path in re.findall(r"`(mnist_mlp\w*/[\w/]+\.py)`",
                                                                   row.code))
        tests = named_tests(row.test)
        assert tests, row.id
        for path, name in tests:
            assert f"def {name}(" in (ROOT / path).read_text(), f"{path}::{name} is named"
        if statement.kind in (MEASURED, ERRATUM):
            assert row.id in rule.RULES, row.id
            assert any(name.startswith("test_rule_") for _, name in tests), row.id


def test_every_rule_is_in_the_legend(claims):
    text = markdown(claims)
    legend = text[text.index("## How each verdict is computed"):].split("\n## ")[0]
    for number, statement in enumerate(STATEMENTS, start=1):
        if statement.id in rule.RULES:
            assert f"- **{number}** (`{statement.id}`): {rule.RULES[statement.id]}" in legend
    assert set(rule.RULES) <= set(IDS)


def test_every_code_path_the_table_names_exists(saved):
    paths = set(re.findall(r"`(mnist_mlp\w*/[\w/]+\.py)`", saved["md"].read_text()))
    assert {path.split("/")[0] for path in paths} == {"mnist_mlp", "mnist_mlp_lab"}
    for path in paths:
        assert (ROOT / path).is_file(), path


def test_l1_fit_resists_outliers_l2_fit_does_not():
    """The chapter: the L2 loss weighs outliers more than the L1 loss."""
    regression = l1_l2_fits()
    assert sum(regression.outlier) == 3
    assert regression.slope_error("L2") > 1.0  # pulled towards the outliers
    assert regression.slope_error("L1") < 0.5
    for fit in regression.fits.values():  # gradient descent found each loss's minimum
        assert fit.slope == pytest.approx(fit.exact_slope, abs=1e-2)
        assert fit.intercept == pytest.approx(fit.exact_intercept, abs=1e-2)
    assert TRUE_LINE == (2.0, 1.0)


def test_integrated_gradient_is_the_cross_entropy():
    """∫ (F − y)/(F(1 − F)) dF is the cross-entropy (35), up to its value at the start."""
    for item in backward_engineering():
        assert item.max_difference < 1e-5
        assert item.integral[0] == item.cross_entropy[0]
    coarse = backward_engineering(points=11)  # the difference is the trapezoid rule's error
    assert max(i.max_difference for i in coarse) > 1e-3


def test_a_learning_rate_that_diverges_everywhere_is_a_result(monkeypatch, claims):
    def diverge(*args, **kwargs):
        raise DivergenceError("every network diverged")

    monkeypatch.setattr(sweeps, "train_many", diverge)
    config = quick_settings(train_size=200, validation_size=50).base()
    [point] = sweeps.train_point(config, [0, 1], 1e6)
    assert point.value == 1e6 and point.diverged == 2 and math.isnan(point.mean)
    assert point.still_descending() is None


def test_a_point_with_one_nan_network_averages_the_others(tiny_data, wreck):
    """A network with NaN weights is counted as diverged and its accuracy left out of the mean,
    which is the other networks' (the networks of a point train independently)."""
    config = quick_settings(train_size=200, validation_size=50, data_dir=str(tiny_data),
                            epochs=1, device="cpu").base()
    [healthy] = sweeps.train_point(config, [0, 1, 2], 0.5)
    wreck(1, "pixel 0")  # finite outputs in the compiled loop: only the weights say so
    with pytest.warns(UserWarning, match="seed 1 diverged"):
        [point] = sweeps.train_point(config, [0, 1, 2], 0.5)
    assert point.diverged == 1 and math.isnan(point.final[1])
    assert point.kept == [healthy.final[0], healthy.final[2]]
    assert point.mean == pytest.approx((healthy.final[0] + healthy.final[2]) / 2)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="seeds"):
        ClaimSettings(seeds=0).validate()
    with pytest.raises(ValueError, match="largest mini-batch"):
        ClaimSettings(train_size=500).validate()
    full = ClaimSettings()
    assert len(full.lrs) >= 5 and max(full.lrs) / min(full.lrs) >= 1e5  # five decades
    assert full.seeds >= 5 and full.hidden_sizes == (10, 30, 100, 300)
    assert full.batch_sizes == (1, 10, 100, 1000) and full.base().train_size == 50_000
    assert full.activations == ("sigmoid", "tanh", "relu")
    assert ("sigmoid", "binary_cross_entropy") in full.outputs


def test_script_missing_data_is_a_one_line_error(load_script, tmp_path, capsys):
    script = load_script("claims")
    code = script.main(["--quick", "--data-dir", str(tmp_path / "nothing"), "--out",
                        str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert not list((tmp_path / "out").glob("claims*"))


def test_json_reads_back_into_the_same_report(saved, claims, load_script, tmp_path):
    again = tmp_path / "again"
    assert load_script("claims").main(["--from-json", str(saved["json"]), "--out",
                                       str(again)]) == 0
    assert (again / "claims.md").read_text() == saved["md"].read_text()
    assert json.loads((again / "claims.json").read_text()) == json.loads(saved["json"].read_text())
    bad = tmp_path / "bad.json"
    bad.write_text('{"settings": {}}')
    with pytest.raises(ValueError, match=r"not a claims\.json"):
        load(bad)


def test_json_reads_the_reproduction_again_where_one_is_given(saved, load_script, tmp_path):
    """--from-json keeps the reproduction saved in claims.json; --reproduction reads one again,
    so that its stalls are judged by today's rule (here: none there, so not measured)."""
    assert "`l100-quadratic` runs stall" in saved["md"].read_text()
    assert load_script("claims").main(["--from-json", str(saved["json"]), "--reproduction",
                                       str(tmp_path / "none.json"), "--out",
                                       str(tmp_path)]) == 0
    assert "`l100-quadratic` runs stall" not in (tmp_path / "claims.md").read_text()


# --- statements checked as written, here --------------------------------------------------------


def test_the_l2_loss_is_smooth_where_the_l1_loss_has_a_kink():
    """Across F = y the L2 loss's gradient, F − y, goes through 0 continuously; the L1 loss's,
    ½ sign(F − y), jumps from −½ to ½."""
    y = torch.tensor([[0.5]], dtype=torch.float64)
    for loss, jump in ((mse_loss, 0.0), (mae_loss, 0.5)):
        grads = []
        for F in (0.5 - 1e-9, 0.5 + 1e-9):
            out = torch.tensor([[F]], dtype=torch.float64, requires_grad=True)
            (grad,) = torch.autograd.grad(loss(out, y, reduction="sum"), out)
            grads.append(float(grad))
        assert grads[1] - grads[0] == pytest.approx(2 * jump, abs=1e-8)


def test_the_first_term_is_smallest_as_the_labels_output_nears_1():
    """On a softmax output F_n ≤ 1, so −ln F_n ≥ 0, falling to 0 as F_n → 1."""
    values = []
    for z in (0.0, 2.0, 5.0, 10.0, 30.0):  # the label's logit against nine zeros
        logits = torch.zeros(1, 10, dtype=torch.float64)
        logits[0, 3] = z
        F = torch.softmax(logits, dim=1)
        assert float(F[0, 3]) <= 1
        values.append(float(log_likelihood(F, torch.tensor([3]), reduction="sum")))
    assert all(v >= 0 for v in values) and values == sorted(values, reverse=True)
    assert values[-1] < 1e-11


def test_autograd_takes_derivatives_of_any_order():
    """Reverse-mode autograd, of which backpropagation is a case, differentiates its own
    derivatives: σ', σ'', σ''' by the chain rule equal their formulas."""
    z = torch.linspace(-3, 3, 7, dtype=torch.float64, requires_grad=True)
    s = torch.sigmoid(z)
    (d1,) = torch.autograd.grad(s.sum(), z, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), z, create_graph=True)
    (d3,) = torch.autograd.grad(d2.sum(), z)
    s = s.detach()
    torch.testing.assert_close(d1, s * (1 - s))
    torch.testing.assert_close(d2, s * (1 - s) * (1 - 2 * s))
    torch.testing.assert_close(d3, s * (1 - s) * (1 - 6 * s + 6 * s ** 2))


# --- the rules: numbers that support each statement, and numbers that contradict it ---------------


def point(value, finals, losses=None, label="", seconds=1.0, updates=10):
    """A sweep point with these final accuracies (NaN: diverged) and training-loss histories."""
    return Point(value=value, final=list(finals), losses=losses or [[1.0, 0.5]] * len(finals),
                 epochs=2, train_images=100, seconds_per_epoch=seconds, updates_per_epoch=updates,
                 label=label)


GOOD, FINE, POOR = [0.95, 0.951, 0.949], [0.93, 0.931, 0.929], [0.60, 0.61, 0.59]
NAN = math.nan


def test_rule_difference_counts_only_beyond_students_bound():
    d = rule.difference([0.95, 0.96], [0.90, 0.91])
    assert d.value == pytest.approx(0.05) and d.se == pytest.approx(0.005 * math.sqrt(2))
    assert d.dof == pytest.approx(2)  # Welch: equal spreads, n_a + n_b − 2
    assert d.measurable and d.points() == "+5.00 ± 0.71 points"
    assert not rule.difference([0.95, 0.85], [0.90, 0.91]).measurable
    assert not rule.difference([0.95], [0.90, 0.91]).measurable  # one seed: no spread
    assert rule.difference([NAN, 0.9, 0.9], [0.8, 0.8]).value == pytest.approx(0.1)  # diverged out


@pytest.mark.parametrize(("seeds", "counts"), [(3, False), (6, True)])
def test_a_difference_of_2_5_standard_errors_counts_from_enough_seeds(seeds, counts):
    """t = 2.5: beyond Student's bound at 10 degrees of freedom (2.23), within it at 4 (2.78);
    a fixed 2 would count both."""
    a = [0.95 + 0.01 * (-1) ** i for i in range(seeds)]
    b = [0.94 + 0.01 * (-1) ** i for i in range(seeds)]
    d = rule.difference(a, b)
    shrink = d.value / d.se / 2.5  # scale the spread so that t is exactly 2.5
    d = rule.difference([0.95 + (x - 0.95) * shrink for x in a],
                        [0.94 + (x - 0.94) * shrink for x in b])
    assert d.value / d.se == pytest.approx(2.5) and d.dof == pytest.approx(2 * seeds - 2)
    assert d.measurable is counts


def test_rule_outliers():
    assert rule.outliers(2.16, 0.23, 4e-4) == rule.HOLDS
    assert rule.outliers(0.3, 0.23, 4e-4) == rule.FAILS  # L2 no more pulled than L1
    assert rule.outliers(2.16, 0.23, 0.5) == rule.UNMEASURED  # a fit did not converge


def test_rule_backward_engineering():
    assert rule.backward(2e-6) == rule.HOLDS
    assert rule.backward(0.3) == rule.FAILS


def test_rule_loss_choice():
    assert rule.loss_choice([rule.difference(GOOD, POOR)]) == rule.HOLDS
    assert rule.loss_choice([rule.difference(GOOD, [0.949, 0.95, 0.951])]) == rule.UNSEEN
    assert rule.loss_choice([]) == rule.UNMEASURED


def test_rule_preferable():
    assert rule.preferable(GOOD, FINE) == rule.HOLDS
    assert rule.preferable(FINE, GOOD) == rule.FAILS
    assert rule.preferable(GOOD, [0.951, 0.949, 0.95]) == rule.UNSEEN
    assert rule.preferable([NAN, NAN], GOOD) == rule.UNMEASURED


def test_rule_preferable_reads_the_output_sweep(claims):
    sigmoid, softmax = sweeps.output_label("sigmoid", "binary_cross_entropy"), \
        sweeps.output_label("softmax", "binary_cross_entropy")
    better = replace(claims, output=[point(0, FINE, label=softmax), point(1, GOOD, label=sigmoid)])
    assert claims_rows.eq35_sigmoid_output(better).startswith("Holds: sigmoid + (35) 95.00 %")
    worse = replace(claims, output=[point(0, GOOD, label=softmax), point(1, FINE, label=sigmoid)])
    assert claims_rows.eq35_sigmoid_output(worse).startswith("Does not hold")


def test_rule_slowdown_network():
    assert rule.slowdown_network(8, 6e-7, 7e-2) == rule.HOLDS
    assert rule.slowdown_network(8, 5e-2, 7e-2) == rule.FAILS  # stalled, but not for want of δ
    assert rule.slowdown_network(0, None, None) == rule.UNSEEN


def test_rule_eta():
    """Stuck: far below the best η and the loss on a plateau; slow: below, but still falling."""
    flat = [[1.0, 0.9] + [0.899] * rule.PLATEAU_EPOCHS] * 3  # fell, then a plateau
    falling = [[1.0, 0.8, 0.6, 0.4]] * 3
    stuck = rule.eta([POOR, GOOD, [0.1] * 3], [flat, falling, flat])
    assert (stuck.verdict, stuck.small, stuck.large) == (rule.HOLDS, "stuck", "far below the best")
    slow = rule.eta([POOR, GOOD, [NAN] * 3], [falling, falling, []])
    assert (slow.verdict, slow.small, slow.large) == (rule.PARTLY, "slow", "diverged")
    neither = rule.eta([FINE, GOOD, FINE], [falling, falling, falling])
    assert neither.verdict == rule.UNSEEN  # each half a "might": not seen, not refuted
    assert neither.small == neither.large == "not below the best"
    assert rule.plateaued([1.0, 0.5]) is False and rule.plateaued([1.0]) is None


def test_rule_eta_reads_the_sweep(claims):
    flat = [[1.0, 0.9] + [0.8995] * rule.PLATEAU_EPOCHS] * 3
    sweep = [point(0.001, POOR, flat), point(0.5, GOOD), point(100, [NAN] * 3, [])]
    verdict = claims_rows.learning_rate(replace(claims, learning_rate=sweep))
    assert verdict.startswith("Holds (too small η: holds; too large η: holds): after 2 epochs "
                              "η = 0.5 does best (95.00 %)")
    assert "stuck (its training loss on a plateau)" in verdict and "diverged (3 of 3)" in verdict
    slow = [point(0.001, POOR), point(0.5, GOOD), point(100, FINE)]
    verdict = claims_rows.learning_rate(replace(claims, learning_rate=slow))
    assert verdict.startswith("Not seen here (too small η: not seen here; too large η: not "
                              "seen here)") and "slow, not stuck" in verdict


def test_rule_batch_better():
    assert rule.batch_better([POOR, FINE, GOOD]) == rule.HOLDS
    assert rule.batch_better([POOR, GOOD, FINE]) == rule.PARTLY  # better, then worse again
    assert rule.batch_better([GOOD, FINE, POOR]) == rule.FAILS
    assert rule.batch_better([FINE, [0.929, 0.93, 0.931]]) == rule.UNSEEN


def test_rule_batch_middle():
    assert rule.batch_middle([FINE, GOOD, POOR]) == rule.HOLDS
    assert rule.batch_middle([GOOD, FINE, POOR]) == rule.FAILS
    assert rule.batch_middle([GOOD, [0.951, 0.949, 0.95], POOR]) == rule.UNSEEN
    assert rule.batch_middle([GOOD, POOR]) == rule.UNMEASURED


def test_rule_batch_cost():
    assert rule.batch_cost((1e-5, 1e-3), (0.2, 0.3)) == rule.HOLDS
    assert rule.batch_cost((1e-5, 1e-3), (0.2, 0.1)) == rule.PARTLY  # dearer updates, cheaper epoch
    # epochs within EPOCH_SAME of each other cost the same: timing noise decides nothing
    assert rule.batch_cost((1e-5, 1e-3), (0.200, 0.185)) == rule.HOLDS
    assert rule.batch_cost((1e-5, 1e-3), (0.200, 0.175)) == rule.PARTLY
    assert rule.batch_cost((1e-5, 1.5e-5), (0.2, 0.1)) == rule.FAILS
    assert rule.batch_cost((NAN, 1e-3), (0.2, 0.1)) == rule.UNMEASURED


def test_rule_batch_rows_read_the_sweeps(claims):
    updates = [point(1, POOR), point(10, FINE), point(100, GOOD)]
    batch = replace(claims.batch_size, updates=updates, epochs=[
        point(1, FINE, seconds=0.2, updates=100), point(10, GOOD, seconds=0.15, updates=10),
        point(100, POOR, seconds=0.1, updates=1)])
    c = replace(claims, batch_size=batch)
    assert claims_rows.batches_better(c).startswith("Holds: after 20 updates, m = 1 60.00 %")
    assert claims_rows.batch_middle(c).startswith("Holds")
    assert claims_rows.batches_cost(c).startswith("Partly: an update of m = 100 costs 50×")
    assert "is 2.0× cheaper than one of m = 1 " in claims_rows.batches_cost(c)
    batch = replace(batch, epochs=[*batch.epochs[:2], point(100, POOR, seconds=0.19, updates=1)])
    same = claims_rows.batches_cost(replace(claims, batch_size=batch))
    assert same.startswith("Holds") and "is as costly (within 10%) as one of m = 1 " in same


def test_rule_hidden_10():
    assert rule.trains(GOOD) == rule.HOLDS
    assert rule.trains(POOR) == rule.FAILS
    assert rule.trains([0.95, 0.95, NAN]) == rule.PARTLY
    assert rule.trains([NAN, NAN]) == rule.FAILS


def test_rule_sigmoid_hidden():
    assert rule.sigmoid_hidden(GOOD, [FINE, [0.951, 0.95, 0.949]]) == rule.HOLDS
    assert rule.sigmoid_hidden(FINE, [GOOD, FINE]) == rule.PARTLY  # another one is better
    assert rule.sigmoid_hidden(GOOD, [POOR]) == rule.PARTLY  # the other does not train
    assert rule.sigmoid_hidden(POOR, [GOOD, [NAN, NAN]]) == rule.FAILS


def test_rule_recipe(claims):
    assert rule.recipe([GOOD, FINE]) == rule.HOLDS
    assert rule.recipe([GOOD, [NAN, 0.95, 0.95]]) == rule.PARTLY
    assert rule.recipe([[NAN] * 3, POOR]) == rule.FAILS
    swept = [point(10, FINE), point(300, [NAN] * 3)]
    verdict = claims_rows.recipe(replace(claims, hidden_size=swept, reproduction=LINK))
    assert verdict.startswith("Partly: mean final test accuracy `l30-softmax_eq35` 95.00 %")
    assert "diverged 3 of 6; l = 300: 3 of 3" in verdict


def test_rule_unseen_data(claims):
    assert claims_rows.unseen_data(replace(claims, reproduction=LINK)).startswith(
        "Partly: trained on the training images, the recipe's networks score `l30-softmax_eq35` "
        "95.00 % (diverged 0 of 3), `l100-softmax_eq35` 96.00 % (diverged 1 of 3)")
    good = replace(LINK, configurations=[reproduced("l30-softmax_eq35", GOOD),
                                         reproduced("l100-softmax_eq35", GOOD)])
    assert claims_rows.unseen_data(replace(claims, reproduction=good)).startswith("Holds")
    poor = replace(LINK, configurations=[reproduced("l30-softmax_eq35", POOR),
                                         reproduced("l100-softmax_eq35", POOR)])
    assert claims_rows.unseen_data(replace(claims, reproduction=poor)).startswith("Does not hold")


def test_rule_figures():
    assert rule.within(0.9549, [0.9515, 0.9569]) and not rule.within(0.9549, [0.92, 0.93])
    assert rule.figures([True, True]) == rule.HOLDS
    assert rule.figures([True, False]) == rule.PARTLY
    assert rule.figures([False, False]) == rule.FAILS
    assert rule.figures([None]) == rule.UNMEASURED


def test_rule_slightly_worse():
    assert rule.slightly_worse(GOOD, [0.947, 0.948, 0.946]) == rule.HOLDS
    assert rule.slightly_worse(GOOD, FINE) == rule.FAILS  # two points: not slight
    assert rule.slightly_worse(FINE, GOOD) == rule.FAILS  # the quadratic cost better
    assert rule.slightly_worse(GOOD, [0.951, 0.949, 0.95]) == rule.UNSEEN


def test_rule_considerable():
    assert rule.considerable([0.968, 0.9685, 0.9675], [0.9659, 0.9664, 0.9654]) == rule.HOLDS
    assert rule.considerable([0.9662, 0.9663, 0.9664], [0.9659, 0.9660, 0.9661]) == rule.FAILS
    assert rule.considerable(FINE, GOOD) == rule.FAILS
    assert rule.considerable(GOOD, [0.951, 0.949, 0.95]) == rule.UNSEEN


def test_rule_unbalanced():
    assert rule.unbalanced([0.9, 0.89], [1.0, 1.0], [0.0, 0.0]) == rule.HOLDS
    assert rule.unbalanced([0.5, 0.5], [1.0, 1.0], [0.0, 0.0]) == rule.FAILS  # balanced classes


def test_rule_erratum():
    assert rule.erratum(True) == rule.ERRATUM and rule.erratum(False) == rule.HOLDS


def test_rule_within_rounding():
    assert rule.within_rounding(2e-15) == rule.HOLDS
    assert rule.within_rounding(3e-4) == rule.FAILS and rule.within_rounding(math.nan) == rule.FAILS


# --- the rows read from the reproduction ---------------------------------------------------


def reproduced(name, final, best=None, stalled=None, lr=0.5, textbook=None):
    output = "softmax" if "softmax" in name else "sigmoid"
    return Reproduced(name, int(name[1:].split("-")[0]), output, "mse", lr, textbook,
                      list(final), list(best or final), list(stalled or [False] * len(final)))


LINK = ReproductionLink("l100-quadratic", 2, 3, 1.0, 6e-7, 7e-2, [
    reproduced("l30-cross_entropy", GOOD, [0.955, 0.956, 0.954], textbook=0.9549),
    reproduced("l30-quadratic", [0.947, 0.948, 0.946], [0.954, 0.955, 0.953], lr=3.0,
               textbook=0.9542),
    reproduced("l30-quadratic_eta0.5", [0.92, 0.921, 0.919]),
    reproduced("l30-softmax_eq35", GOOD),
    reproduced("l100-cross_entropy", [0.968, 0.9685, 0.9675], textbook=0.9682),
    reproduced("l100-quadratic", [0.967, 0.85, 0.86], [0.9665, 0.85, 0.86], [False, True, True],
               lr=3.0, textbook=0.9659),
    reproduced("l100-quadratic_eta0.5", [0.84, 0.845, 0.835]),
    reproduced("l100-softmax_eq35", [NAN, 0.96, 0.96])])


def test_the_costs_are_compared_at_both_etas_stalls_counted(claims):
    c = replace(claims, reproduction=LINK)
    slightly = claims_rows.slightly_worse(c)
    assert slightly.startswith("At η = 0.5 (the chapter's), Does not hold: 95.00 % against "
                               "92.00 %, +3.00 ± 0.08 points")
    assert "at η = 3 (Nielsen's), Holds: 95.00 % against 94.70 %, +0.30 ± 0.08" in slightly
    considerable = claims_rows.considerable(c)
    # +7.57 ± 3.74 points: t = 2.02, beyond 2 but within Student's bound at Welch's 2.0
    # degrees of freedom (4.30): the two stalled runs' spread leaves the gain unproven
    assert "at η = 3 (Nielsen's), Not seen here: 96.80 % against 89.23 %, +7.57 ± 3.74" in \
        considerable
    assert "2 of 3 quadratic runs stalled (without them +0.10 points, one run against the " \
        "others: Not seen here)" in considerable  # the verdict without the stalls, computed
    figures = claims_rows.quadratic_figures(c)
    assert figures.startswith("Does not hold at the stated η = 0.5: 95.42 % against "
                              "91.90 %–92.10 %")
    assert "at Nielsen's η = 3.0, where they were measured, 2 of 2 within" in figures
    assert claims_rows.figures(c).startswith("Holds: 2 of 2 lie within")
    assert claims_rows.figures(c).endswith("the recipe's own, softmax with (35): 0 of 2.")
    assert claims_rows.loss_choice(c).startswith("Holds")
    missing = replace(claims, reproduction=replace(LINK, configurations=LINK.configurations[:2]))
    assert "Not measured: the reproduction has no `l30-quadratic_eta0.5`" in \
        claims_rows.slightly_worse(missing)


def test_every_erratum_is_a_statement_of_the_table():
    assert {e.id for e in ERRATA} <= set(IDS)
    assert {s.id for s in STATEMENTS if s.kind == ERRATUM} <= {e.id for e in ERRATA}
