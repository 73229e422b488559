"""``mnist-mlp-evaluate``: a trained network's report on the 10,000 test digits."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from ..inference import checkpoint_summary, evaluate_checkpoint
from ..textbook.metrics import classification_report
from .common import OneLineParser, one_line_errors
from .tables import format_report


def evaluate_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        description="Evaluate a trained network on the 10,000 MNIST test digits: accuracy, "
                    "per-class precision, recall and specificity, confusion matrix.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint (.pt) or a run folder (its best.pt, else "
                                      "last.pt)")
    p.add_argument("--data-dir", help="folder holding MNIST/raw/ (default: $MNIST_DATA, else "
                                      "./data, downloading there)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--json", action="store_true",
                   help="print the report, loss and checkpoint as JSON instead of a table")
    return p


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    """``mnist-mlp-evaluate``: the test-set report of a checkpoint's network."""
    args = evaluate_parser().parse_args(argv)
    result = evaluate_checkpoint(args.checkpoint, args.data_dir, args.device)
    checkpoint, test = result.checkpoint, result.test
    report = classification_report(test.confusion)
    loss = checkpoint.config.get("loss")
    if args.json:
        print(json.dumps(report.to_dict() | {
            "loss": test.loss, "loss_function": loss,
            "checkpoint": checkpoint_summary(checkpoint)}, indent=2))
        return 0
    print(f"{checkpoint.path}: {checkpoint.architecture}, epoch {checkpoint.epoch}, "
          f"lr {checkpoint.lr:g}")
    print(f"test loss ({loss}) {test.loss:.4f}\n")
    print(format_report(report))
    return 0
