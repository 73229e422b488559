"""Tests for mnist_mlp.textbook.metrics against a small example computed by hand: the chapter's
accuracy, precision, recall and specificity, one class against the rest, and balanced accuracy."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mnist_mlp.cli.tables import format_report
from mnist_mlp.textbook.metrics import (
    ClassificationReport,
    accuracy,
    classification_report,
    confusion_matrices,
    confusion_matrix,
)

# Hand-built 3-class example, N = 10 (shuffled order).
#   true 0 (4 samples) predicted as 0, 0, 0, 1  -> row [3, 1, 0]
#   true 1 (2 samples) predicted as 1, 2        -> row [0, 1, 1]
#   true 2 (4 samples) predicted as 2, 2, 0, 0  -> row [2, 0, 2]
LABELS = torch.tensor([2, 0, 1, 0, 2, 0, 2, 1, 0, 2])
PREDS = torch.tensor([2, 0, 1, 1, 0, 0, 2, 2, 0, 0])

# Rows true class, columns predicted class.
EXPECTED_CONFUSION = [
    [3, 1, 0],
    [0, 1, 1],
    [2, 0, 2],
]
# Column sums [5, 2, 3], row sums [4, 2, 4], trace 6, N 10.
#   class 0: TP 3, FP 2, FN 1, TN 4
#   class 1: TP 1, FP 1, FN 1, TN 7
#   class 2: TP 2, FP 1, FN 2, TN 5
EXPECTED_PRECISION = [3 / 5, 1 / 2, 2 / 3]
EXPECTED_RECALL = [3 / 4, 1 / 2, 2 / 4]
EXPECTED_SPECIFICITY = [4 / 6, 7 / 8, 5 / 6]
EXPECTED_ACCURACY = 6 / 10


@pytest.fixture
def report() -> ClassificationReport:
    return classification_report(confusion_matrix(PREDS, LABELS, num_classes=3))


def test_confusion_matrix_hand_example() -> None:
    c = confusion_matrix(PREDS, LABELS, num_classes=3)
    assert c.dtype == torch.int64
    assert c.shape == (3, 3)
    assert c.device.type == "cpu"
    assert c.tolist() == EXPECTED_CONFUSION
    assert int(c.sum()) == 10


def test_confusion_matrix_rows_are_true_classes() -> None:
    # One sample of true class 0 predicted as class 2: lands in row 0, column 2.
    c = confusion_matrix(torch.tensor([2]), torch.tensor([0]), num_classes=3)
    assert c[0, 2] == 1
    assert int(c.sum()) == 1


def test_confusion_matrix_matches_loop_and_sums_to_n() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (500,), generator=g)
    preds = torch.randint(0, 10, (500,), generator=g)
    c = confusion_matrix(preds, labels)
    assert c.shape == (10, 10)
    assert int(c.sum()) == 500
    expected = [[0] * 10 for _ in range(10)]
    for t, p in zip(labels.tolist(), preds.tolist(), strict=True):
        expected[t][p] += 1
    assert c.tolist() == expected
    assert c.sum(dim=1).tolist() == torch.bincount(labels, minlength=10).tolist()


def test_confusion_matrix_empty_is_zero() -> None:
    empty = torch.zeros(0, dtype=torch.int64)
    c = confusion_matrix(empty, empty, num_classes=4)
    assert c.tolist() == [[0] * 4 for _ in range(4)]


@pytest.mark.parametrize(
    ("preds", "labels"),
    [
        ([0, 1, 2], [0, 1, 3]),  # label too large
        ([0, 1, 2], [0, -1, 2]),  # negative label
        ([0, 1, 3], [0, 1, 2]),  # prediction too large
        ([-1, 1, 2], [0, 1, 2]),  # negative prediction
    ],
)
def test_confusion_matrix_out_of_range_raises(preds: list[int], labels: list[int]) -> None:
    with pytest.raises(ValueError):
        confusion_matrix(torch.tensor(preds), torch.tensor(labels), num_classes=3)


def test_confusion_matrix_bad_inputs_raise() -> None:
    with pytest.raises(ValueError):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1, 2]), num_classes=3)
    with pytest.raises(TypeError):
        confusion_matrix(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), num_classes=3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_confusion_matrix_on_cuda_returns_cpu() -> None:
    c = confusion_matrix(PREDS.cuda(), LABELS.cuda(), num_classes=3)
    assert c.device.type == "cpu"
    assert c.tolist() == EXPECTED_CONFUSION
    assert accuracy(PREDS.cuda(), LABELS.cuda()) == pytest.approx(EXPECTED_ACCURACY)


def test_accuracy_hand_example_and_trace() -> None:
    assert accuracy(PREDS, LABELS) == pytest.approx(0.6)
    c = confusion_matrix(PREDS, LABELS, num_classes=3)
    assert accuracy(PREDS, LABELS) == pytest.approx(int(c.trace()) / int(c.sum()))


def test_accuracy_empty_raises() -> None:
    empty = torch.zeros(0, dtype=torch.int64)
    with pytest.raises(ValueError):
        accuracy(empty, empty)


def test_report_hand_example(report: ClassificationReport) -> None:
    assert report.confusion.tolist() == EXPECTED_CONFUSION
    assert report.accuracy == pytest.approx(EXPECTED_ACCURACY)
    for t in (report.precision, report.recall, report.specificity):
        assert t.dtype == torch.float64
        assert t.shape == (3,)
    assert report.precision.tolist() == pytest.approx(EXPECTED_PRECISION)
    assert report.recall.tolist() == pytest.approx(EXPECTED_RECALL)
    assert report.specificity.tolist() == pytest.approx(EXPECTED_SPECIFICITY)
    assert report.support.tolist() == [4, 2, 4]


def test_report_accuracy_is_trace_over_total(report: ClassificationReport) -> None:
    c = report.confusion
    assert report.accuracy == pytest.approx(int(c.trace()) / int(c.sum()))
    assert report.accuracy == pytest.approx(accuracy(PREDS, LABELS))


def test_macro_means(report: ClassificationReport) -> None:
    # Hand-computed: (3/5 + 1/2 + 2/3)/3 = 53/90; (3/4 + 1/2 + 1/2)/3 = 7/12;
    # (2/3 + 7/8 + 5/6)/3 = 19/24.
    assert report.macro_precision == pytest.approx(53 / 90)
    assert report.macro_recall == pytest.approx(7 / 12)
    assert report.macro_specificity == pytest.approx(19 / 24)
    assert report.macro_precision == pytest.approx(sum(EXPECTED_PRECISION) / 3)
    assert report.macro_recall == pytest.approx(sum(EXPECTED_RECALL) / 3)
    assert report.macro_specificity == pytest.approx(sum(EXPECTED_SPECIFICITY) / 3)


def test_zero_denominators_give_zero_not_nan() -> None:
    # 4 classes: class 1 occurs once but is never predicted; class 3 is absent and never predicted.
    labels = torch.tensor([0, 0, 1, 2, 2])
    preds = torch.tensor([0, 2, 0, 2, 2])
    r = classification_report(confusion_matrix(preds, labels, num_classes=4))
    assert r.confusion.tolist() == [
        [1, 0, 1, 0],
        [1, 0, 0, 0],
        [0, 0, 2, 0],
        [0, 0, 0, 0],
    ]
    for t in (r.precision, r.recall, r.specificity):
        assert not torch.isnan(t).any()
    # Class 1 never predicted: TP 0, FP 0 -> precision 0; FN 1 -> recall 0/1 = 0.
    assert r.precision[1].item() == 0.0
    assert r.recall[1].item() == 0.0
    # Class 3 absent from the labels: TP 0, FN 0 -> recall 0; never predicted -> precision 0;
    # TN 5, FP 0 -> specificity 1.
    assert r.recall[3].item() == 0.0
    assert r.precision[3].item() == 0.0
    assert r.specificity[3].item() == 1.0
    # Hand values for the others: class 0 TP1 FP1 FN1 TN2; class 2 TP2 FP1 FN0 TN2.
    assert r.precision.tolist() == pytest.approx([1 / 2, 0.0, 2 / 3, 0.0])
    assert r.recall.tolist() == pytest.approx([1 / 2, 0.0, 1.0, 0.0])
    assert r.specificity.tolist() == pytest.approx([2 / 3, 1.0, 2 / 3, 1.0])
    assert r.accuracy == pytest.approx(3 / 5)
    assert not math.isnan(r.macro_precision)


def test_specificity_zero_denominator() -> None:
    # Every sample is of class 0 and predicted as 0: class 0 has TN 0, FP 0 -> specificity 0.
    r = classification_report(torch.tensor([[5, 0], [0, 0]]))
    assert r.specificity.tolist() == [0.0, 1.0]
    assert r.precision.tolist() == [1.0, 0.0]
    assert r.recall.tolist() == [1.0, 0.0]


def test_report_rejects_bad_matrices() -> None:
    with pytest.raises(ValueError):
        classification_report(torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError):
        classification_report(torch.tensor([[1, -1], [0, 1]]))
    with pytest.raises(ValueError):
        classification_report(torch.zeros(3, 3, dtype=torch.int64))
    with pytest.raises(TypeError):
        classification_report(torch.eye(3))


def test_to_dict_is_json_serialisable(report: ClassificationReport) -> None:
    d = report.to_dict()
    round_tripped = json.loads(json.dumps(d))
    assert round_tripped == d
    assert d["confusion"] == EXPECTED_CONFUSION
    assert d["accuracy"] == pytest.approx(EXPECTED_ACCURACY)
    assert d["precision"] == pytest.approx(EXPECTED_PRECISION)
    assert d["recall"] == pytest.approx(EXPECTED_RECALL)
    assert d["specificity"] == pytest.approx(EXPECTED_SPECIFICITY)
    assert d["support"] == [4, 2, 4]
    assert d["macro_recall"] == pytest.approx(7 / 12)
    assert d["balanced_accuracy"] == pytest.approx(
        [(r + s) / 2 for r, s in zip(EXPECTED_RECALL, EXPECTED_SPECIFICITY, strict=True)])
    assert d["macro_balanced_accuracy"] == pytest.approx((7 / 12 + 19 / 24) / 2)


def test_format_report(report: ClassificationReport) -> None:
    text = format_report(report)
    lines = text.splitlines()
    # One row per class, with hand-computed percentages and the support.
    # precision, recall, specificity, balanced accuracy = (recall + specificity) / 2, support
    assert any(ln.split()[:6] == ["0", "60.00%", "75.00%", "66.67%", "70.83%", "4"]
               for ln in lines)
    assert any(ln.split()[:6] == ["1", "50.00%", "50.00%", "87.50%", "68.75%", "2"]
               for ln in lines)
    assert any(ln.split()[:6] == ["2", "66.67%", "50.00%", "83.33%", "66.67%", "4"]
               for ln in lines)
    assert any(ln.startswith("macro avg") and "58.89%" in ln and "68.75%" in ln for ln in lines)
    assert "balanced = (recall + specificity) / 2" in text  # the legend says what it is
    assert "accuracy: 60.00%" in text
    assert "true \\ predicted" in text
    # Confusion-matrix rows follow the header.
    header_idx = next(i for i, ln in enumerate(lines) if "true \\ predicted" in ln)
    assert lines[header_idx].split()[-3:] == ["0", "1", "2"]
    for i, row in enumerate(EXPECTED_CONFUSION):
        assert lines[header_idx + 1 + i].split() == [str(i), *map(str, row)]


def test_confusion_matrices_of_many_classifiers_at_once():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (500,), generator=g)
    predictions = torch.randint(0, 10, (4, 500), generator=g)
    batched = confusion_matrices(predictions, labels)
    assert batched.shape == (4, 10, 10)
    for k in range(4):
        assert torch.equal(batched[k], confusion_matrix(predictions[k], labels))


def test_unbalanced_data_mislead_accuracy_and_specificity_not_balanced_accuracy() -> None:
    """The chapter's warning about very unbalanced data: one digit (10 of 100 samples) against
    the other nine, and a classifier that never says "it is the digit". Accuracy 90 % and
    specificity 100 % look good; recall 0 and balanced accuracy 50 % tell the truth."""
    labels = torch.tensor([1] * 10 + [0] * 90)  # 1: the digit, 0: any other digit
    never = torch.zeros(100, dtype=torch.int64)
    r = classification_report(confusion_matrix(never, labels, num_classes=2))
    assert r.accuracy == pytest.approx(0.90)
    assert r.specificity[1].item() == 1.0
    assert r.recall[1].item() == 0.0 and r.precision[1].item() == 0.0
    assert r.balanced_accuracy[1].item() == pytest.approx(0.5)
    assert r.macro_balanced_accuracy == pytest.approx(0.5)  # both classes read 50 %
