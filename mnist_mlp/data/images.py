"""An image of one handwritten digit (a file, or one held in memory), made to look like an MNIST
digit.

An image is made to look like an MNIST digit before the network sees it (LeCun et al.'s
preparation of MNIST):

1. grayscale, 8-bit (16-bit levels scaled to 8 bits; transparent pixels count as paper: white,
   or black under white ink);
2. white digit on black: inverted when the background, judged from the border pixels, is light;
   the background level is then subtracted and the contrast stretched so the brightest ink is 255;
3. cropped to the digit's bounding box and scaled, keeping the aspect ratio, so that the
   longer side is 20 pixels;
4. pasted into a 28×28 black image so that its centre of mass lies at pixel (14, 14);
5. rounded to bytes and scaled by 1/256, exactly as the training images are.
"""

from __future__ import annotations

import os
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

DIGIT_BOX = 20
"""The longer side of the digit's bounding box after scaling, in pixels (as in MNIST)."""
INK_FRACTION = 0.1
"""Pixels brighter than this fraction of the brightest one count as ink for the bounding box."""
BORDER = 2
"""Width in pixels of the image border from which the background level is judged."""
MAX_PIXELS = 40_000_000
"""Larger images are refused before they are decoded: a digit needs far fewer pixels, and
decoding a huge (or hugely declared) image could exhaust the memory."""


class ImageError(UserError):
    """An image that cannot be read or holds no digit; the message is one line."""


def describe(source: str | os.PathLike | IO[bytes]) -> str:
    """How messages name an image: ``image <path>`` for a file, ``the image`` for one in memory."""
    return f"image {source}" if isinstance(source, (str, os.PathLike)) else "the image"


def read_grayscale(source: str | os.PathLike | IO[bytes], name: str | None = None
                   ) -> np.ndarray:
    """The image in ``source`` (a file's path, or an open binary file such as
    ``io.BytesIO(data)``) as float64 gray levels 0…255. Transparent parts become paper: white
    behind dark ink, black behind light ink (white ink drawn on a transparent canvas).

    ``name`` says what the image is in messages (default: ``describe(source)``). Raises
    ``ImageError`` if the file is missing, not an image Pillow can read, or has more pixels than
    can be decoded safely (``MAX_PIXELS``, and Pillow's own ``Image.MAX_IMAGE_PIXELS``) — that
    is checked from its header, before it is decoded.
    """
    name = name or describe(source)
    if isinstance(source, (str, os.PathLike)):  # a file, not a FIFO: opening one would wait
        examine(source, "image", "give a PNG or JPEG of a digit", FILE, ImageError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                _check_size(image, name)
                image = _eight_bit(ImageOps.exif_transpose(image))  # photos: upright as shown
                if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                    image = _on_paper(image.convert("RGBA"))
                return np.asarray(image.convert("L"), dtype=np.float64)
    except FileNotFoundError:
        raise ImageError(f"cannot read {name}: no such file") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageError(f"cannot read {name}: it has more than {_pixel_limit():,} pixels, too "
                         "many to decode safely; give a smaller image of the digit") from None
    except UnidentifiedImageError:  # Pillow's message names the file object, not the image
        raise ImageError(f"cannot read {name}: it is not an image file Pillow knows; give a PNG "
                         "or JPEG of a digit") from None
    except (OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageError(f"cannot read {name}: {reason}; give a PNG or JPEG of a digit"
                         ) from None


SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
"""Pillow's modes of 16-bit grayscale (a 16-bit PNG is ``I;16``; some readers give ``I``)."""


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit grayscale image as the 8-bit one it would be saved as: levels 0…65535 to
    0…255 (÷ 257). Pillow's own ``convert("L")`` clips them at 255 instead, which leaves a
    digit two grey levels. Any other image is returned as it is."""
    if image.mode not in SIXTEEN_BIT:
        return image
    levels = np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
    eight = Image.fromarray(np.rint(levels / 257).astype(np.uint8))
    if isinstance(image.info.get("transparency"), int):  # the level that stands for "none"
        eight.info["transparency"] = round(image.info["transparency"] / 257)
    return eight


def _pixel_limit() -> int:
    return min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)


def _check_size(image: Image.Image, name: str) -> None:
    """``ImageError`` for an image with more pixels than ``_pixel_limit()`` (from its header)."""
    width, height = image.size
    if width * height > _pixel_limit():
        raise ImageError(f"cannot read {name}: it has more than {_pixel_limit():,} pixels "
                         f"({width}×{height}), too many to decode safely; give a smaller image "
                         "of the digit")


def _on_paper(image: Image.Image) -> Image.Image:
    """An RGBA image over paper of the colour its ink is not: black under light ink, else
    white."""
    pixels = np.asarray(image)
    ink = pixels[..., 3] > 127
    light = bool(ink.any()) and float(np.asarray(image.convert("L"))[ink].mean()) > 127.5
    paper = Image.new("RGBA", image.size, "black" if light else "white")
    return Image.alpha_composite(paper, image)


def background_level(gray: np.ndarray) -> float:
    """The median of the pixels within ``BORDER`` pixels of the edge: the paper's gray level."""
    border = np.concatenate([gray[:BORDER].ravel(), gray[-BORDER:].ravel(),
                             gray[:, :BORDER].ravel(), gray[:, -BORDER:].ravel()])
    return float(np.median(border))


def white_on_black(gray: np.ndarray) -> np.ndarray:
    """Ink bright (up to 255) on a black (0) background, whatever the image's polarity.

    A light background (above mid-grey) means dark ink on paper, so the image is inverted. The
    background level is then subtracted and the contrast stretched so the brightest pixel is 255.
    """
    if background_level(gray) > 127.5:
        gray = 255.0 - gray
    ink = np.clip(gray - background_level(gray), 0.0, None)
    if ink.max() <= 0:
        return ink
    return ink * (255.0 / ink.max())


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
    mass = digit.sum()
    centre = side // 2
    top = round(centre - (rows * digit).sum() / mass)
    left = round(centre - (columns * digit).sum() / mass)
    top, left = min(max(top, 0), side - height), min(max(left, 0), side - width)
    canvas = np.zeros((side, side))
    canvas[top:top + height, left:left + width] = digit
    return canvas


def prepare_image(source: str | os.PathLike | IO[bytes], name: str | None = None) -> Tensor:
    """An image of one digit as the network's input: 784 float32 pixels in [0, 1).

    ``source`` is a file's path or an open binary file (e.g. ``io.BytesIO(data)`` for an image
    held in memory); ``name`` says what it is in messages (default: ``describe(source)``). The
    steps are those in the module docstring. Raises ``ImageError`` if the image cannot be read
    or shows no digit (a blank image).
    """
    name = name or describe(source)
    ink = white_on_black(read_grayscale(source, name))
    if ink.max() <= 0:
        raise ImageError(f"no digit in {name}: it is blank; give an image of one digit")
    canvas = centre_by_mass(scale_to_box(crop_to_digit(ink)))
    pixels = torch.from_numpy(np.rint(canvas).astype(np.uint8))
    return pixels.reshape(-1).to(torch.float32) / PIXEL_SCALE
