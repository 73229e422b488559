"""Spreads over runs and the three readings of a run's test accuracy."""

import math
from dataclasses import replace

import pytest
from helpers import history, record

from mnist_mlp.training.records import EpochRecord
from mnist_mlp.training.stats import (
    best_accuracy,
    diverged,
    final_accuracy,
    spread,
    summarize,
    validated_accuracy,
)

RUN = history([0.90, 0.95, 0.93, 0.94], validation=[0.91, 0.92, 0.96, 0.96])


def test_three_readings():
    assert final_accuracy(RUN) == 0.94
    assert best_accuracy(RUN) == 0.95
    assert validated_accuracy(RUN) == 0.93  # first epoch with the best validation accuracy


def test_spread_by_hand():
    s = spread([0.9, 0.92, 0.94])
    assert s.mean == pytest.approx(0.92)
    assert s.std == pytest.approx(0.02)  # sample standard deviation
    assert (s.min, s.max, s.n) == (0.9, 0.94, 3)
    assert s.percent() == "92.00 ± 2.00 % (90.00–94.00, n = 3)"
    assert spread([0.944]).percent() == "94.40 % (n = 1)"  # one value: no spread to show
    assert s.contains(0.91) and not s.contains(0.95)
    assert spread([0.5]).std == 0.0
    with pytest.raises(ValueError):
        spread([])


def test_summarize_counts_and_excludes_diverged_runs():
    runs = [RUN, history([0.9, 0.96], [0.9, 0.8]), history([0.1, 0.1], [0.1, 0.1], math.nan)]
    assert diverged(runs[2]) and not diverged(runs[0])
    summary = summarize(runs)
    assert summary["runs"] == 3 and summary["diverged"] == 1
    assert summary["final"].mean == pytest.approx((0.94 + 0.96) / 2)
    assert summary["best"].mean == pytest.approx((0.95 + 0.96) / 2)
    assert summary["validated"].mean == pytest.approx((0.93 + 0.9) / 2)


def test_no_validation():
    summary = summarize([history([0.9, 0.95])])
    assert "validated" not in summary
    with pytest.raises(ValueError, match="validation"):
        validated_accuracy(history([0.9]))


def test_a_record_carries_its_divergence_and_reads_old_records():
    """The driver's flag (NaN weights, here with finite losses) survives the trip through a
    file; a record written before the flag existed has it computed from its training losses;
    a NaN training loss is divergence whatever the flag says."""
    flagged = replace(record(), diverged=True)
    assert EpochRecord.from_dict(flagged.to_dict()).diverged
    assert not EpochRecord.from_dict(record().to_dict()).diverged
    old = {k: v for k, v in record(loss=math.nan).to_dict().items() if k != "diverged"}
    assert EpochRecord.from_dict(old).diverged
    assert not EpochRecord.from_dict(record().to_dict() | {"diverged": False}).diverged
    assert record(loss=math.inf).diverged
    with pytest.raises(TypeError, match="diverged"):
        EpochRecord.from_dict(record().to_dict() | {"diverged": "no"})
    with pytest.raises(TypeError, match="test_accuracy is missing"):  # as a shard file may say
        EpochRecord.from_dict(record().to_dict() | {"test_accuracy": None})
    with pytest.raises(ValueError, match=r"test_accuracy is 1000000000…, not in \[0, 1\]"):
        EpochRecord.from_dict(record().to_dict() | {"test_accuracy": 10**400})
    runs = [history([0.9]), [flagged]]
    assert summarize(runs)["diverged"] == 1 and summarize(runs)["final"].n == 1
