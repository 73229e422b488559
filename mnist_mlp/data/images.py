"""An image of one digit (a file, or one held in memory) made to look like an MNIST digit by
``prepare_image``: LeCun et al.'s preparation of MNIST, one function a step. The steps and
their reasons: docs/data.md."""

from __future__ import annotations

import os
import struct
import warnings
from typing import IO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from ..errors import UserError
from ..files import FILE, examine
from ..textbook.model import IMAGE_SIDE
from .digits import PIXEL_SCALE

DIGIT_BOX = 20  # the longer side of the digit's bounding box after scaling, as in MNIST
INK_FRACTION = 0.1  # pixels above this fraction of the brightest count as ink for the box
BORDER = 2  # the width of the border from which the background level is judged
MAX_PIXELS = 40_000_000  # larger images are refused undecoded: they could exhaust the memory
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # 16-bit gray: a PNG's is I;16 (or I)
GIVE_A_DIGIT = "give a PNG or JPEG of a digit"


class ImageError(UserError):
    """An image that cannot be read or holds no digit; the message is one line."""


def describe(source: str | os.PathLike | IO[bytes]) -> str:
    """How messages name an image: ``image <path>`` for a file, ``the image`` for one in memory."""
    return f"image {source}" if isinstance(source, (str, os.PathLike)) else "the image"


DAMAGED = (OSError, ValueError, SyntaxError, NotImplementedError, EOFError, IndexError,
           struct.error)
"""What Pillow raises on a damaged or hostile file (a broken PNG chunk: SyntaxError, an EXIF
field of the wrong type: struct.error, an unknown pixel format: NotImplementedError…)."""


def read_grayscale(source: str | os.PathLike | IO[bytes], name: str) -> np.ndarray:
    """The image in ``source`` (a path or an open binary file) as float64 gray levels 0…255,
    transparent parts as paper (``_on_paper``). ``ImageError``, naming it ``name``, if it is
    missing, not an image, or larger than ``_pixel_limit()`` (from its header, undecoded)."""
    if isinstance(source, (str, os.PathLike)):  # a file, not a FIFO: opening one would wait
        examine(source, "image", GIVE_A_DIGIT, FILE, ImageError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > _pixel_limit():
                    raise _too_large(name, f" ({width}×{height})")
                image = _eight_bit(ImageOps.exif_transpose(image))  # photos: upright as shown
                if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                    image = _on_paper(image.convert("RGBA"))
                return np.asarray(image.convert("L"), dtype=np.float64)
    except FileNotFoundError:
        raise ImageError(f"cannot read {name}: no such file") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _too_large(name) from None
    except UnidentifiedImageError:  # Pillow's message names the file object, not the image
        reason = "it is not an image file Pillow knows"
    except DAMAGED as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise ImageError(f"cannot read {name}: {reason}; {GIVE_A_DIGIT}")


def _pixel_limit() -> int:
    """``MAX_PIXELS``, or Pillow's own limit where that is lower."""
    return min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)


def _too_large(name: str, size: str = "") -> ImageError:
    """The refusal of an image with too many pixels (``size``: how many, where known)."""
    return ImageError(f"cannot read {name}: it has more than {_pixel_limit():,} pixels{size}, "
                      "too many to decode safely; give a smaller image of the digit")


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit grayscale image as the 8-bit one it would be saved as: levels 0…65535 to
    0…255 (÷ 257), where Pillow's ``convert("L")`` clips them at 255, leaving a digit two grey
    levels. Any other image is returned as it is."""
    if image.mode not in SIXTEEN_BIT:
        return image
    levels = np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
    eight = Image.fromarray(np.rint(levels / 257).astype(np.uint8))
    if isinstance(image.info.get("transparency"), int):  # the level that stands for "none"
        eight.info["transparency"] = round(image.info["transparency"] / 257)
    return eight


def _on_paper(image: Image.Image) -> Image.Image:
    """An RGBA image over paper of the colour its ink is not: black under light ink (white ink
    on a transparent canvas), else white."""
    ink = np.asarray(image)[..., 3] > 127  # the opaque pixels
    light = bool(ink.any()) and float(np.asarray(image.convert("L"))[ink].mean()) > 127.5
    paper = Image.new("RGBA", image.size, "black" if light else "white")
    return Image.alpha_composite(paper, image)


def background_level(gray: np.ndarray) -> float:
    """The median of the pixels within ``BORDER`` pixels of the edge: the paper's gray level."""
    border = np.concatenate([gray[:BORDER].ravel(), gray[-BORDER:].ravel(),
                             gray[:, :BORDER].ravel(), gray[:, -BORDER:].ravel()])
    return float(np.median(border))


def white_on_black(gray: np.ndarray) -> np.ndarray:
    """Ink bright (up to 255) on black (0): inverted if the background is light (dark ink on
    paper), then the background level subtracted and the contrast stretched to 255."""
    if background_level(gray) > 127.5:
        gray = 255.0 - gray
    ink = np.clip(gray - background_level(gray), 0.0, None)
    return ink * (255.0 / ink.max()) if ink.max() > 0 else ink


def crop_to_digit(ink: np.ndarray) -> np.ndarray:
    """The bounding box of the pixels brighter than ``INK_FRACTION`` of the brightest."""
    rows, columns = np.nonzero(ink > INK_FRACTION * ink.max())
    return ink[rows.min():rows.max() + 1, columns.min():columns.max() + 1]


def scale_to_box(digit: np.ndarray, side: int = DIGIT_BOX) -> np.ndarray:
    """Resize (Lanczos, antialiased) so the longer side is ``side`` pixels, aspect kept."""
    height, width = digit.shape
    factor = side / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    image = Image.fromarray(digit.astype(np.float32), mode="F")
    return np.clip(np.asarray(image.resize(size, Image.Resampling.LANCZOS)), 0.0, 255.0)


def centre_by_mass(digit: np.ndarray, side: int = IMAGE_SIDE) -> np.ndarray:
    """Paste ``digit`` into a ``side``×``side`` black image with its centre of mass at the
    centre pixel (14, 14 for 28), as far as the digit stays inside the image."""
    height, width = digit.shape
    rows, columns = np.indices(digit.shape)
    top = round(side // 2 - (rows * digit).sum() / digit.sum())
    left = round(side // 2 - (columns * digit).sum() / digit.sum())
    top, left = min(max(top, 0), side - height), min(max(left, 0), side - width)
    canvas = np.zeros((side, side))
    canvas[top:top + height, left:left + width] = digit
    return canvas


def prepare_image(source: str | os.PathLike | IO[bytes], name: str | None = None) -> Tensor:
    """An image of one digit (a path, or an open binary file such as ``io.BytesIO(data)``) as
    the network's input: 784 float32 pixels in [0, 1), rounded to bytes and scaled by 1/256 as
    the training images are. ``ImageError`` if it cannot be read or is blank."""
    name = name or describe(source)
    ink = white_on_black(read_grayscale(source, name))
    if ink.max() <= 0:
        raise ImageError(f"no digit in {name}: it is blank; give an image of one digit")
    canvas = centre_by_mass(scale_to_box(crop_to_digit(ink)))
    pixels = torch.from_numpy(np.rint(canvas).astype(np.uint8))
    return pixels.reshape(-1).to(torch.float32) / PIXEL_SCALE
