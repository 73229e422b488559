"""``mnist-mlp-predict``: the digit in each image file, read by a trained network; an image
that cannot be read is one ``error: …`` line in its place, and the exit status 2."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from ..data.images import ImageError
from ..inference import Prediction, checkpoint_summary, predict_files
from ..training.checkpoints import Checkpoint
from .common import one_line_errors
from .options import predict_parser

Answers = list[tuple[str, Prediction | ImageError]]
"""Each image's path and its prediction, or why it has none."""


def prediction_lines(path: str, prediction: Prediction) -> str:
    """Two lines: the image and its digit, then the ten probabilities."""
    p = prediction.probabilities
    return (f"{path}: {prediction.digit}  (probability {p[prediction.digit]:.3f})\n  "
            + "  ".join(f"{digit}: {value:.3f}" for digit, value in enumerate(p)))


def print_answers(checkpoint: Checkpoint, answers: Answers) -> None:
    """Each image's digit and probabilities, or its error on stderr, in the order given."""
    predictions = [answer for _, answer in answers if isinstance(answer, Prediction)]
    if predictions and predictions[0].normalised:
        print(f"(sigmoid output layer: its ten outputs divided by their sum, to read as "
              f"probabilities; {checkpoint.path})")
    for path, answer in answers:
        if isinstance(answer, Prediction):
            print(prediction_lines(path, answer), flush=True)
        else:
            print(f"error: {answer}", file=sys.stderr, flush=True)


def print_json(checkpoint: Checkpoint, answers: Answers) -> None:
    """The checkpoint and, for each image, its prediction or ``"error"``; errors on stderr."""
    print(json.dumps({"checkpoint": checkpoint_summary(checkpoint), "predictions": [
        {"image": path} | (answer.to_dict() if isinstance(answer, Prediction)
                           else {"error": str(answer)})
        for path, answer in answers]}, indent=2))
    for _, answer in answers:
        if isinstance(answer, ImageError):
            print(f"error: {answer}", file=sys.stderr)


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    """``mnist-mlp-predict``: the digit in each image and the ten probabilities; status 2 if
    any image could not be read."""
    args = predict_parser().parse_args(argv)
    checkpoint, predictions = predict_files(args.checkpoint, args.images)
    answers = list(zip(args.images, predictions, strict=True))
    (print_json if args.json else print_answers)(checkpoint, answers)
    return 2 if any(isinstance(answer, ImageError) for _, answer in answers) else 0
