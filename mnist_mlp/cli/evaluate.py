"""``mnist-mlp-evaluate``: a trained network's report on the 10,000 test digits."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..inference import checkpoint_summary, evaluate_checkpoint
from ..textbook.metrics import classification_report
from .common import one_line_errors
from .options import evaluate_parser
from .tables import format_report


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
