"""The MNIST files: found (``resolve_data_dir``), downloaded, checked and read into the book's
splits (``load_mnist``, ``load_test_digits``); a problem the user can fix is a one-line
``DataError``. The layout, the IDX format, the checks and the splits: docs/data.md."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import io
import math
import os
import stat
import struct
import textwrap
import zlib
from pathlib import Path

import torch

from ..errors import ConfigError, UserError
from ..files import FILE, FOLDER, examine
from ..textbook.model import IMAGE_SIDE, NUM_CLASSES
from .digits import DigitTensors, MNISTSplits, to_digits

ENV_VAR = "MNIST_DATA"
DEFAULT_DATA_DIR = "data"
RAW = Path("MNIST", "raw")  # where torchvision keeps the files under its root
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
RAW_FILES = TRAIN_FILES + TEST_FILES
# An IDX header's magic number: 0x08 (unsigned bytes) << 8 | the number of dimensions.
IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
CHUNK = 1 << 20  # bytes read at a time: a header may promise anything, a .gz a disk's worth
MAX_ITEMS = 100_000 * IMAGE_SIDE * IMAGE_SIDE  # more than any MNIST file holds (60,000 images)
HOW_TO_FIX = (f"Pass --data-dir PATH or set {ENV_VAR}=PATH to a folder holding MNIST/raw/ "
              "(torchvision layout).")
# A failed download: URLError and socket errors (OSErrors), a mirror's failure (RuntimeError)…
_DOWNLOAD_ERRORS = (OSError, RuntimeError, ValueError, EOFError, http.client.HTTPException)


class DataError(UserError):
    """A problem with the MNIST files that the user can fix; the message is one line."""


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    """The torchvision root to read MNIST from (``data_dir``, else ``$MNIST_DATA``, else
    ``./data``; a path to its ``MNIST`` or ``MNIST/raw`` folder maps to it) and whether
    downloading into it is allowed (only into ``./data``)."""
    given = data_dir if data_dir is not None else os.environ.get(ENV_VAR) or None
    download = given is None
    folder = Path(os.path.abspath(Path(DEFAULT_DATA_DIR if given is None else given).expanduser()))
    if folder.name == "raw" and folder.parent.name == "MNIST":
        return folder.parent.parent, download
    if folder.name == "MNIST" and _is_folder(folder / "raw") and not _is_folder(folder / "MNIST"):
        return folder.parent, download
    return folder, download


def _is_folder(path: Path) -> bool:
    """Whether ``path`` is a folder; ``DataError`` if it cannot be examined (a folder on the way
    that may not be entered, a name too long)."""
    status = examine(path, "the data folder", HOW_TO_FIX, error=DataError)
    return status is not None and stat.S_ISDIR(status.st_mode)


def load_mnist(data_dir: str | os.PathLike[str] | None = None, *, train_size: int | None = None,
               validation_size: int = 10_000, download: bool | None = None) -> MNISTSplits:
    """The book's splits: training the first ``60000 - validation_size`` (or ``train_size``)
    images of the training file, validation its last ``validation_size`` (none if 0), test the
    t10k file. ``ConfigError`` for bad sizes, ``DataError`` for missing or corrupt files."""
    if validation_size < 0:
        raise ConfigError(f"validation_size must be >= 0, got {validation_size}")
    if train_size is not None and train_size <= 0:
        raise ConfigError(f"train_size must be positive (or None for all), got {train_size}")
    root = _ensure_files(data_dir, download, RAW_FILES)
    train_images, train_labels = _read_split(root, TRAIN_FILES)
    test = to_digits(*_read_split(root, TEST_FILES))  # a corrupt file first, then the sizes
    n_file = train_images.shape[0]
    n_fit = n_file - validation_size  # the images before the validation split
    if n_fit <= 0:
        raise ConfigError(f"validation_size={validation_size} leaves no training images: the "
                          f"training file holds {n_file} images, so validation_size must be "
                          f"between 0 and {n_file - 1}")
    if train_size is not None and train_size > n_fit:
        raise ConfigError(f"train_size={train_size} is more than the {n_fit} training images "
                          f"available ({n_file} in the file minus validation_size="
                          f"{validation_size})")
    n_train = n_fit if train_size is None else train_size
    validation = to_digits(train_images[n_fit:], train_labels[n_fit:]) if validation_size else None
    return MNISTSplits(train=to_digits(train_images[:n_train], train_labels[:n_train]),
                       validation=validation, test=test)


def load_test_digits(data_dir: str | os.PathLike[str] | None = None, *,
                     download: bool | None = None) -> DigitTensors:
    """Only the 10,000 test digits (the t10k files): all that evaluating a network needs."""
    return to_digits(*_read_split(_ensure_files(data_dir, download, TEST_FILES), TEST_FILES))


def _stored(raw: Path, name: str) -> Path | None:
    """``raw/name``, else its original ``raw/name.gz``; None if neither is a file."""
    return next((path for path in (raw / name, raw / f"{name}.gz") if path.is_file()), None)


def _missing_files(root: Path, names: tuple[str, ...]) -> list[str]:
    """The names among ``names`` that are not in ``root/MNIST/raw/``, plain or ``.gz``."""
    return [name for name in names if _stored(root / RAW, name) is None]


def _ensure_files(data_dir: str | os.PathLike[str] | None, download: bool | None,
                  names: tuple[str, ...]) -> Path:
    """The root ``data_dir`` resolves to, once the files ``names`` are there and readable, or
    downloaded if ``download`` (by default: into ``./data`` only)."""
    root, download_allowed = resolve_data_dir(data_dir)
    _check_readable(root, names)
    if missing := _missing_files(root, names):
        if not (download_allowed if download is None else download):
            why = ("downloading is off" if download is False else "MNIST is downloaded only "
                   "into ./data, when no folder is named, never into a folder you name")
            raise DataError(_not_found_message(root, missing, why))
        _download(root, names)
    return root


def _check_readable(root: Path, names: tuple[str, ...]) -> None:
    """``DataError`` for a folder on the way to the data that exists but cannot be read (so that
    the files are not called missing), or for a path that is not a folder or a file where one
    belongs (a FIFO in place of a data file is refused, never opened: reading it would wait)."""
    raw = root / RAW
    wanted = [(root, FOLDER), (raw.parent, FOLDER), (raw, FOLDER),
              *((raw / name, FILE) for name in names)]
    for path, want in wanted:
        status = examine(path, f"the MNIST {want}", HOW_TO_FIX, want, DataError)
        try:
            if status is not None and want == FOLDER:
                os.listdir(path)
        except OSError as error:
            raise DataError(_unreadable(path, error)) from None


def _unreadable(path: Path, error: OSError) -> str:
    """One line saying that ``path`` exists but cannot be read, and what to do."""
    return (f"cannot read {path}: {error.strerror or error}; make it readable, or use another "
            f"copy. {HOW_TO_FIX}")


def _not_found_message(root: Path, missing: list[str], why: str) -> str:
    """One line saying which files are missing from ``root``, why, and what to do; with a hint
    when they are in the wrong folder."""
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    hint = next((f" Found MNIST files in {folder}: move them to {root / RAW}."
                 for folder in (root, root / "raw") if (folder / missing[0]).is_file()), "")
    return (f"MNIST not found in {root} (expected MNIST/raw/{missing[0]}{more}) and {why}."
            f"{hint} {HOW_TO_FIX}")


def _download(root: Path, names: tuple[str, ...]) -> None:
    """Download MNIST into ``root/MNIST/raw/`` with torchvision, or raise ``DataError``; on
    failure, what the attempt created is removed and nothing that was there before touched."""
    raw = root / RAW
    new_folders = [folder for folder in (root, raw.parent, raw) if not folder.exists()]
    old_files = set(raw.iterdir()) if raw.is_dir() else set()
    import torchvision  # here, not above: only a download needs it (it costs some 160 MB)

    try:
        torchvision.datasets.MNIST(root, train=True, download=True)
    except BaseException as error:
        if isinstance(error, Exception) and not _missing_files(root, names):
            return  # the files arrived; reading them failed, which _read_split reports
        with contextlib.suppress(OSError):  # best effort: a partial download left is harmless
            for path in set(raw.iterdir()) - old_files if raw.is_dir() else ():
                if path.is_file():
                    path.unlink()
            for folder in reversed(new_folders):
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
        if isinstance(error, _DOWNLOAD_ERRORS):
            why = f"it could not be downloaded: {_reason(error)}"
            raise DataError(_not_found_message(root, _missing_files(root, names), why)
                            ) from error
        raise


def _reason(error: BaseException) -> str:
    """An exception as one short line: its type and message."""
    text = textwrap.shorten(str(error), 300, placeholder="...")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _read_split(root: Path, files: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read the images, uint8 (N, 28, 28), and labels, int64 (N,), of the two ``files``."""
    image_file, label_file = files
    raw = root / RAW
    images, labels = _read_idx(raw, image_file), _read_idx(raw, label_file)
    problem = None
    if tuple(images.shape[1:]) != (IMAGE_SIDE, IMAGE_SIDE):
        shape = "x".join(map(str, images.shape[1:]))
        problem = f"{image_file} holds images of shape {shape}, expected 28x28"
    elif images.shape[0] != labels.shape[0]:
        problem = (f"{image_file} holds {images.shape[0]} images but {label_file} "
                   f"holds {labels.shape[0]} labels")
    elif images.shape[0] == 0:
        problem = f"{image_file} holds no images"
    elif labels.max() >= NUM_CLASSES:  # bytes: never below 0
        problem = f"{label_file} holds labels outside 0..9 (max {int(labels.max())})"
    if problem:
        raise DataError(_corrupt_message(raw, problem))
    return images, labels.to(torch.int64)


def _corrupt_message(raw: Path, problem: str) -> str:
    """One line saying which file in ``raw`` is corrupt and what to do."""
    return (f"MNIST in {raw} is corrupt: {problem}. Replace the files with intact copies "
            f"(the original MNIST files). {HOW_TO_FIX}")


def _read_idx(raw: Path, name: str) -> torch.Tensor:
    """The uint8 tensor of IDX file ``raw/name``, or of its ``.gz`` decompressed as a stream
    (``_idx_items``: no further than its header promises)."""
    path = _stored(raw, name) or raw / name
    try:
        with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as source:
            dims, items = _idx_items(source, path.name, raw)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        problem = f"{path.name} cannot be decompressed: {_reason(error)}"
        raise DataError(_corrupt_message(raw, problem)) from None
    except OSError as error:  # it is there (_check_readable) but cannot be read
        raise DataError(_unreadable(path, error)) from None
    if not items:
        return torch.empty(dims, dtype=torch.uint8)  # (frombuffer refuses no bytes)
    return torch.frombuffer(items, dtype=torch.uint8).view(dims)


def _idx_items(source: io.BufferedIOBase, label: str, raw: Path) -> tuple[list[int], bytearray]:
    """The dimensions and items of the IDX file in ``source`` (``label``: its name, or its
    ``.gz``'s), read no further than one byte past what its header promises; ``DataError`` if
    the header is short or another file's, or the items are fewer or more than it promises."""
    magic = LABEL_MAGIC if "labels" in label else IMAGE_MAGIC
    ndim = magic & 0xFF
    header = source.read(4 * (1 + ndim))
    packed = label.endswith(".gz")
    holds = "decompresses to" if packed else "holds"
    if len(header) < 4 * (1 + ndim):
        problem = f"{label} is truncated: it {holds} {len(header)} bytes, less than an IDX header"
    elif (found := struct.unpack_from(">I", header)[0]) != magic:
        problem = f"{label} holds magic number {found}, expected {magic}"
    else:
        dims = list(struct.unpack_from(f">{ndim}I", header, 4))
        promised, items = math.prod(dims), bytearray()
        if promised > MAX_ITEMS:  # a .gz could hold that much: never read it into memory
            problem = f"{label}'s header promises {promised:,} bytes, more than MNIST holds"
            raise DataError(_corrupt_message(raw, problem))
        while len(items) < promised and (chunk := source.read(min(promised - len(items), CHUNK))):
            items += chunk
        if len(items) == promised and not source.read(1):
            return dims, items
        if len(items) < promised:
            what = "decompresses to fewer bytes" if packed else "is truncated: it holds fewer bytes"
        else:
            what = "decompresses to more bytes" if packed else "holds more"
        problem = f"{label} {what} than its header promises ({len(header) + promised} bytes)"
    raise DataError(_corrupt_message(raw, problem))
