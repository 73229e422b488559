"""What the commands print: the first line of a run, the line of each epoch, and the test-set
report (per-class metrics, then the confusion matrix)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, replace

from ..textbook.metrics import ClassificationReport
from ..textbook.names import LOSS_DESCRIPTIONS
from ..training.checkpoints import describe_architecture
from ..training.config import TrainConfig, why_device
from ..training.records import EpochRecord, RunStart
from ..training.stats import spread


def loss_words(name: str) -> str:
    """The loss called ``name`` in words, e.g. "the cross-entropy (35), both terms"."""
    return LOSS_DESCRIPTIONS.get(name, name)


def start_line(start: RunStart) -> str:
    """A run's first line: the network, the loss, η, the mini-batch size, the epochs, the seeds;
    the trainer, the device and why that one."""
    first, count = start.configs[0], len(start.configs)
    networks = f"{count} networks " if count > 1 else ""
    lrs = ", ".join(f"{lr:g}" for lr in dict.fromkeys(c.lr for c in start.configs))
    seeds = sorted({c.seed for c in start.configs})
    if len(seeds) == 1:
        seed = f"seed {seeds[0]}"
    elif seeds == list(range(seeds[0], seeds[-1] + 1)):
        seed = f"seeds {seeds[0]}…{seeds[-1]}"
    else:
        seed = "seeds " + ", ".join(map(str, seeds))
    epochs = f"{first.epochs} epoch{'s' if first.epochs > 1 else ''}"
    if start.first_epoch > 1:
        epochs = (f"epochs {start.first_epoch}…{first.epochs} (resumed)"
                  if start.first_epoch <= first.epochs else f"{epochs}, all done")
    return (f"training {networks}{describe_architecture(asdict(first))}, "
            f"{loss_words(first.loss)}, "
            f"η {lrs}, mini-batches of {first.batch_size}, {epochs}, {seed}{data_words(first)} | "
            f"{start.trainer} | device {start.device} ({start.device_reason})")


def data_words(config: TrainConfig) -> str:
    """The digits a run trains and validates on where they are not the book's 50,000 and
    10,000: e.g. ", 2,000 training images, no validation"."""
    default = TrainConfig()
    words = ([f"{config.train_size:,} training images"]
             if config.train_size != default.train_size else [])
    if config.validation_size != default.validation_size:
        words.append(f"{config.validation_size:,} validation images"
                     if config.validation_size else "no validation")
    return "".join(f", {w}" for w in words)


def start_printer(configs: Sequence[TrainConfig] | None = None, prefix: str = "",
                  device: str | None = None) -> Callable[[RunStart], None]:
    """An ``on_start`` that prints ``start_line`` once, however many runs it is given to:
    naming ``configs`` (a sweep trained one run after another), after ``prefix`` (the part of a
    sweep this process trains), why ``device`` (the device asked for, not a rank's name)."""
    printed = False

    def on_start(start: RunStart) -> None:
        nonlocal printed
        if printed:
            return
        printed = True
        if configs is not None:
            start = replace(start, configs=list(configs))
        if device is not None:
            start = replace(start, device_reason=why_device(device))
        print(prefix + start_line(start), flush=True)

    return on_start


def format_report(report: ClassificationReport) -> str:
    """The report as a plain-text table: per-class metrics and their macro means, the legend,
    the accuracy, then the confusion matrix."""
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
    the macro means (unweighted; their support is the total)."""
    label_w = max(len("macro avg"), len(str(report.num_classes - 1)))
    support_w = max(len("support"), len(str(report.total)))
    pct_w = len("specificity")  # widest metric header; "100.00%" fits

    def row(label: str, cells: list[str], support: str) -> str:
        return (f"{label:>{label_w}}  " + "  ".join(f"{c:>{pct_w}}" for c in cells)
                + f"  {support:>{support_w}}")

    header = row("class", ["precision", "recall", "specificity", "balanced"], "support")
    per_class = [report.precision, report.recall, report.specificity, report.balanced_accuracy]
    macro = [report.macro_precision, report.macro_recall, report.macro_specificity,
             report.macro_balanced_accuracy]
    rule = "-" * len(header)
    return [header, rule,
            *(row(str(i), [_percent(float(m[i])) for m in per_class], str(int(n)))
              for i, n in enumerate(report.support.tolist())),
            rule, row("macro avg", [_percent(m) for m in macro], str(report.total))]


def confusion_table(report: ClassificationReport) -> list[str]:
    """The confusion matrix: rows true class, columns predicted class."""
    k, corner = report.num_classes, "true \\ predicted"
    cell_w = max(3, len(str(k - 1)), len(str(int(report.confusion.max().item()))))
    return ["confusion matrix (rows: true class, columns: predicted class)",
            f"{corner} " + " ".join(f"{j:>{cell_w}}" for j in range(k)),
            *(f"{i:>{len(corner)}} " + " ".join(f"{v:>{cell_w}}" for v in row)
              for i, row in enumerate(report.confusion.tolist()))]


def epoch_line(record: EpochRecord) -> str:
    """One epoch: the training loss after it (where the training set was not evaluated, the mean
    of the mini-batch losses), validation and test accuracy, its SGD seconds."""
    validation = (f"  validation {100 * record.validation_accuracy:6.2f}%"
                  if record.validation_accuracy is not None else "")
    loss = "train loss" if record.train_loss is not None else "mini-batch loss"
    return (f"epoch {record.epoch:3d}  {loss} {record.training_loss:.4f}{validation}"
            f"  test {100 * record.test_accuracy:6.2f}%  ({record.seconds:.1f} s)")


def epoch_of_many_line(epoch: int, records: list[EpochRecord],
                       lrs: Sequence[float] = ()) -> str:
    """One epoch of a sweep: the spread of test accuracy over the networks that did not
    diverge (the diverged ones counted, not averaged in), time; where ``lrs`` (each network's
    η, in order) holds several, one spread for each η."""
    if len(set(lrs)) > 1:
        parts = [f"η {lr:g} " + _test_spread([r for r, at in zip(records, lrs, strict=True)
                                              if at == lr]) for lr in dict.fromkeys(lrs)]
    else:
        parts = [_test_spread(records)]
    diverged = sum(r.diverged for r in records)
    counted = f", {diverged} diverged" if diverged else ""
    return (f"epoch {epoch:3d}  {len(records)} networks{counted}  test {', '.join(parts)}"
            f"  ({records[0].seconds:.1f} s)")


def _test_spread(records: list[EpochRecord]) -> str:
    """The spread of the test accuracy of the networks that did not diverge ("—": none)."""
    kept = [r.test_accuracy for r in records if not r.diverged]
    return spread(kept).percent() if kept else "—"
