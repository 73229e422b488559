"""``mnist-mlp-predict``: the digit in each image file, read by a trained network."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from ..inference import Prediction, checkpoint_summary, predict_files
from .common import OneLineParser, one_line_errors


def predict_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        description="Read the digit in each image (PNG or JPEG; dark on light or light on dark) "
                    "with a trained network: the digit and the ten probabilities.")
    p.add_argument("checkpoint", help="a checkpoint (.pt) or a run folder (its best.pt, else "
                                      "last.pt)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, one digit each")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    return p


def prediction_lines(path: str, prediction: Prediction) -> str:
    """Two lines: the image and its digit, then the ten probabilities."""
    p = prediction.probabilities
    return (f"{path}: {prediction.digit}  (probability {p[prediction.digit]:.3f})\n  "
            + "  ".join(f"{digit}: {value:.3f}" for digit, value in enumerate(p)))


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    """``mnist-mlp-predict``: the digit in each image and the ten probabilities."""
    args = predict_parser().parse_args(argv)
    checkpoint, predictions = predict_files(args.checkpoint, args.images)
    if args.json:
        print(json.dumps({"checkpoint": checkpoint_summary(checkpoint), "predictions": [
            {"image": path} | prediction.to_dict()
            for path, prediction in zip(args.images, predictions, strict=True)]}, indent=2))
        return 0
    if predictions[0].normalised:
        print(f"(sigmoid output layer: its ten outputs divided by their sum, to read as "
              f"probabilities; {checkpoint.path})")
    for path, prediction in zip(args.images, predictions, strict=True):
        print(prediction_lines(path, prediction))
    return 0
