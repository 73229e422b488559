"""``mnist-mlp-predict``: the digit in each image file, read by a trained network."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..inference import Prediction, checkpoint_summary, predict_files
from .common import one_line_errors
from .options import predict_parser


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
