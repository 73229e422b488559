"""The chapter, claim by claim (scripts/claims.py): the measurements on the tiny generated MNIST,
the L1/L2 fits, the backward-engineered cross-entropy, the table's references, the script's
errors."""

import json
import math
import re
from pathlib import Path

import pytest

from mnist_mlp.experiments import sweeps
from mnist_mlp.experiments.claims import ClaimSettings, load, quick_settings, run_claims
from mnist_mlp.experiments.claims_report import save
from mnist_mlp.experiments.loss_claims import TRUE_LINE, backward_engineering, l1_l2_fits
from mnist_mlp.training import DivergenceError

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
    """Every sweep has its points and seeds; the fixed-update points made the updates asked."""
    assert [p.value for p in claims.learning_rate] == [0.01, 0.5, 100.0]
    assert [p.value for p in claims.hidden_size] == [10, 30]
    for points in (claims.learning_rate, claims.hidden_size, claims.batch_size.epochs):
        assert all(len(p.final) == 2 and p.epochs == 2 for p in points)
    assert [p.updates for p in claims.batch_size.updates] == [20, 20, 20]
    assert [p.updates_per_epoch for p in claims.batch_size.epochs] == [200, 20, 2]
    assert all(0 < a <= 1 for p in claims.hidden_size for a in p.final)
    assert any("learning rate" in line for line in claims.lines)
    assert claims.derivation.bias["line 3 corrected, Σᵢ[F_j − y_ij]"] < 1e-12
    assert round(claims.one_in.one_in, 1) == 14.8
    assert len(claims.unbalanced) == 10


def test_report_has_a_row_per_statement_and_every_figure(saved):
    text = saved["md"].read_text()
    table = text[text.index("| # | the chapter says"):].split("\n\n")[0].splitlines()[2:]
    rows = [line for line in table if re.match(r"\| \d+ \|", line)]
    assert len(rows) == len(table) >= 20
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert len(cells) == 6 and all(cells), row  # statement, code, test, figure, verdict
    for name in ("learning_rate", "hidden_size", "batch_size", "l1_l2",
                 "backward_engineering", "unbalanced"):
        assert saved[name].read_bytes().startswith(PNG_MAGIC)
        assert f"]({saved[name].name})" in text
    assert "Erratum" in text and "1 in 14.8" in text and "Wall time" in text
    data = json.loads(saved["json"].read_text())
    assert {"learning_rate", "hidden_size", "batch_size", "derivation", "machine"} <= set(data)


def test_every_test_the_table_names_exists(saved):
    text = saved["md"].read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`(?:, `::(\w+)`)?", text)
    assert len(named) >= 15
    for path, *tests in named:
        source = (ROOT / path).read_text()
        for test in filter(None, tests):
            assert f"def {test}(" in source, f"{path}::{test} is named but does not exist"


def test_every_code_path_the_table_names_exists(saved):
    for path in set(re.findall(r"`(mnist_mlp/[\w/]+\.py)`", saved["md"].read_text())):
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
