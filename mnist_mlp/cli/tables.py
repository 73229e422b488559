"""The test-set report as the commands print it: per-class metrics, then the confusion matrix."""

from __future__ import annotations

from ..textbook.metrics import ClassificationReport


def format_report(report: ClassificationReport) -> str:
    """Render a report as a fixed-width plain-text table for the terminal.

    One row per class (precision, recall, specificity and balanced accuracy as percentages with
    two decimals, and the support = row sum of the confusion matrix), a macro-mean row
    (unweighted means over classes; its support is the total), the legend, the overall
    accuracy, then the confusion matrix with rows = true class and columns = predicted class.
    """
    correct = int(report.confusion.trace())
    return "\n".join([*metric_table(report), *LEGEND, "",
                      f"accuracy: {_percent(report.accuracy)} ({correct}/{report.total})", "",
                      *confusion_table(report)])


LEGEND = ("each class against the rest. balanced = (recall + specificity) / 2: a class that is",
          "never predicted scores 50% there, while its specificity is 100% and the accuracy",
          "hardly shows it when the class is rare (a digit is a tenth of the images)")


def _percent(x: float) -> str:
    return f"{100.0 * x:.2f}%"


def metric_table(report: ClassificationReport) -> list[str]:
    """Precision, recall, specificity, balanced accuracy and support: one line per class, then
    the macro means."""
    label_w = max(len("macro avg"), len(str(report.num_classes - 1)))
    support_w = max(len("support"), len(str(report.total)))
    pct_w = len("specificity")  # widest metric header; "100.00%" fits

    def row(label: str, values: list[float], n: int) -> str:
        return (f"{label:>{label_w}}  " + "  ".join(f"{_percent(v):>{pct_w}}" for v in values)
                + f"  {n:>{support_w}}")

    names = ("precision", "recall", "specificity", "balanced")
    header = (f"{'class':>{label_w}}  " + "  ".join(f"{n:>{pct_w}}" for n in names)
              + f"  {'support':>{support_w}}")
    per_class = [report.precision, report.recall, report.specificity, report.balanced_accuracy]
    support = report.support.tolist()
    lines = [header, "-" * len(header)]
    for i in range(report.num_classes):
        lines.append(row(str(i), [float(m[i]) for m in per_class], int(support[i])))
    lines.append("-" * len(header))
    lines.append(row("macro avg", [report.macro_precision, report.macro_recall,
                                   report.macro_specificity, report.macro_balanced_accuracy],
                     report.total))
    return lines


def confusion_table(report: ClassificationReport) -> list[str]:
    """The confusion matrix: rows true class, columns predicted class."""
    k, corner = report.num_classes, "true \\ predicted"
    cell_w = max(3, len(str(k - 1)), len(str(int(report.confusion.max().item()))))
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             f"{corner} " + " ".join(f"{j:>{cell_w}}" for j in range(k))]
    for i, row in enumerate(report.confusion.tolist()):
        lines.append(f"{i:>{len(corner)}} " + " ".join(f"{v:>{cell_w}}" for v in row))
    return lines
