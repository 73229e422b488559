"""The MNIST files: where they are, downloading them, checking them, reading them into splits.

The files are read from ``ROOT/MNIST/raw/`` (torchvision's layout) as IDX files (uint8 images
N x 28 x 28, labels N), each header checked against the file's size before its bytes become a
tensor: no PIL, no transforms, and no torchvision (imported only to download, as it costs a
process some 160 MB); the test split alone needs only the two t10k files. The splits are
those of the reference experiment (Nielsen, *Neural Networks and Deep Learning*, ch. 1):

* training: the first ``60000 - validation_size`` images of the training file (50,000 by default);
* validation: the last ``validation_size`` images of the training file (10,000 by default;
  ``validation_size=0`` trains on all 60,000 and has no validation split);
* test: the 10,000 images of the t10k file.

This module knows nothing of models or training. Problems with the data that a user can fix
raise ``DataError``, whose message is one line meant to be printed without a traceback.
"""

from __future__ import annotations

import functools
import gzip
import http.client
import math
import os
import shlex
import stat
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import torch

from ..errors import ConfigError, UserError
from ..files import FILE, FOLDER, examine, write_atomically
from ..textbook.model import IMAGE_SIDE, NUM_CLASSES
from .digits import DigitTensors, MNISTSplits, to_digits

ENV_VAR = "MNIST_DATA"
DEFAULT_DATA_DIR = "data"
IMAGE_MAGIC = 2051  # IDX header: 0x08 (unsigned bytes) << 8 | 3 dimensions
LABEL_MAGIC = 2049  # 0x08 << 8 | 1 dimension

HOW_TO_FIX = (
    f"Pass --data-dir PATH or set {ENV_VAR}=PATH to a folder holding MNIST/raw/ "
    "(torchvision layout)."
)

# What a failed download raises (URLError and socket errors are OSErrors; torchvision wraps
# per-mirror failures in a RuntimeError).
_DOWNLOAD_ERRORS = (OSError, RuntimeError, ValueError, EOFError, http.client.HTTPException)


class DataError(UserError):
    """A problem with the MNIST files that the user can fix; the message is one line."""


def _one_line(text: str) -> str:
    """Collapse all runs of whitespace, newlines included, into single spaces."""
    return " ".join(text.split())


def _raw_files(train: bool) -> tuple[str, str]:
    """The names of the image and label files of the training (or test) set."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


RAW_FILES = (*_raw_files(True), *_raw_files(False))


def _raw_folder(root: Path) -> Path:
    """The folder where torchvision looks for the files, given its ``root``."""
    return root / "MNIST" / "raw"


# ---------------------------------------------------------------------------------------------
# Where the data is


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    """Return the folder to read MNIST from and whether downloading into it is allowed.

    Order: ``data_dir`` if given, else the environment variable ``MNIST_DATA`` if set (in
    both cases nothing is downloaded), else ``./data`` (downloaded there if missing). The
    folder is the torchvision root, which holds ``MNIST/raw/``; a path to the ``MNIST`` folder
    itself or to its ``raw`` folder is accepted too and mapped to that root.
    """
    if data_dir is not None:
        folder, download = Path(data_dir), False
    elif os.environ.get(ENV_VAR):
        folder, download = Path(os.environ[ENV_VAR]), False
    else:
        folder, download = Path(DEFAULT_DATA_DIR), True
    folder = Path(os.path.abspath(folder.expanduser()))
    return _torchvision_root(folder), download


def _torchvision_root(folder: Path) -> Path:
    """Map a path to ``.../MNIST`` or ``.../MNIST/raw`` to the root above ``MNIST``."""
    if folder.name == "raw" and folder.parent.name == "MNIST":
        return folder.parent.parent
    if folder.name == "MNIST" and _is_folder(folder / "raw") and not _is_folder(folder / "MNIST"):
        return folder.parent
    return folder


def _is_folder(path: Path) -> bool:
    """Whether ``path`` is a folder; ``DataError`` if it cannot be examined (a folder on the way
    that may not be entered, a name too long)."""
    status = examine(path, "the data folder", HOW_TO_FIX, error=DataError)
    return status is not None and stat.S_ISDIR(status.st_mode)


# ---------------------------------------------------------------------------------------------
# Loading


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    train_size: int | None = None,
    validation_size: int = 10_000,
    download: bool | None = None,
) -> MNISTSplits:
    """Load MNIST and split it into training, validation and test digits.

    ``data_dir`` is resolved by ``resolve_data_dir``; ``download`` (default: allowed only for
    the default folder ``./data``) says whether missing files may be downloaded. Training is
    the first ``60000 - validation_size`` images of the training file, validation the last
    ``validation_size`` (none if 0), test the t10k file; ``train_size`` keeps only the first
    ``train_size`` training images. Raises ``ConfigError`` for bad sizes and ``DataError`` when
    the files are missing (and cannot be downloaded) or corrupt.
    """
    if validation_size < 0:
        raise ConfigError(f"validation_size must be >= 0, got {validation_size}")
    if train_size is not None and train_size <= 0:
        raise ConfigError(f"train_size must be positive (or None for all), got {train_size}")
    root, download_allowed = resolve_data_dir(data_dir)
    if download is None:
        download = download_allowed
    _ensure_files(root, download)
    train_images, train_labels = _read_split(root, train=True)
    test_images, test_labels = _read_split(root, train=False)

    n_train = _training_count(train_images.shape[0], validation_size, train_size)
    n_fit = train_images.shape[0] - validation_size
    validation = None
    if validation_size > 0:
        validation = to_digits(train_images[n_fit:], train_labels[n_fit:])
    return MNISTSplits(
        train=to_digits(train_images[:n_train], train_labels[:n_train]),
        validation=validation,
        test=to_digits(test_images, test_labels),
    )


def load_test_digits(data_dir: str | os.PathLike[str] | None = None, *,
                     download: bool | None = None) -> DigitTensors:
    """Only the 10,000 test digits (the t10k files): all that evaluating a network needs."""
    root, download_allowed = resolve_data_dir(data_dir)
    _ensure_files(root, download_allowed if download is None else download, _raw_files(False))
    return to_digits(*_read_split(root, train=False))


def _training_count(n_file: int, validation_size: int, train_size: int | None) -> int:
    """How many images the training split keeps; checks the sizes against the file."""
    if validation_size >= n_file:
        raise ConfigError(
            f"validation_size={validation_size} leaves no training images: the training file "
            f"holds {n_file} images, so validation_size must be between 0 and {n_file - 1}"
        )
    available = n_file - validation_size
    if train_size is None:
        return available
    if train_size > available:
        raise ConfigError(
            f"train_size={train_size} is more than the {available} training images available "
            f"({n_file} in the file minus validation_size={validation_size})"
        )
    return train_size


def _missing_files(root: Path, names: tuple[str, ...] = RAW_FILES) -> list[str]:
    """The names among ``names`` (uncompressed files) that are not in ``root/MNIST/raw/``."""
    raw = _raw_folder(root)
    return [name for name in names if not (raw / name).is_file()]


def _ensure_files(root: Path, download: bool, names: tuple[str, ...] = RAW_FILES) -> None:
    """Make sure the files ``names`` exist under ``root``: readable, decompressed from the
    original ``.gz`` files found beside them, or downloaded if that is allowed."""
    _check_readable(root, names)
    _decompress(_raw_folder(root), _missing_files(root, names))
    missing = _missing_files(root, names)
    if not missing:
        return
    if not download:
        raise DataError(_not_found_message(root, missing, "downloading is off for this folder"))
    _download(root)


def _check_readable(root: Path, names: tuple[str, ...]) -> None:
    """``DataError`` for a folder or file on the way to the data that exists but cannot be read
    (so that it is not called missing, or corrupt), or is not a folder or a file where one
    belongs (a FIFO in place of a data file is refused, never opened: reading it would wait)."""
    raw = _raw_folder(root)
    folders, files = (root, raw.parent, raw), tuple(raw / name for name in names)
    for path in (*folders, *files):
        want = FOLDER if path in folders else FILE
        if examine(path, f"the MNIST {want}", HOW_TO_FIX, want, DataError) is None:
            continue
        try:
            if want == FOLDER:
                os.listdir(path)
            else:
                with path.open("rb"):
                    pass
        except OSError as error:
            raise DataError(f"cannot read {path}: {error.strerror or error}; make it readable, "
                            f"or use another copy. {HOW_TO_FIX}") from None


def _decompress(raw: Path, missing: list[str]) -> None:
    """Decompress ``name.gz`` into ``name`` for each missing file whose original gzip file is
    in ``raw`` (as MNIST is distributed), atomically; no network needed. Only as many bytes as
    the IDX header promises are decompressed (``_copy_promised``): a ``.gz`` that holds more, or
    less, is refused, and nothing of it is left in ``raw``."""
    for name in missing:
        packed = raw / f"{name}.gz"
        if not packed.is_file():
            continue
        try:
            with gzip.open(packed) as source:
                write_atomically(raw / name, functools.partial(_copy_promised, source,
                                                               packed=packed))
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise DataError(_corrupt_message(raw, f"{packed.name} cannot be decompressed: "
                                                  f"{_reason(error)}")) from None
        except OSError as error:
            raise DataError(f"found {packed} but cannot decompress it there: "
                            f"{error.strerror or error}; decompress the files yourself "
                            f"(gunzip -k {shlex.quote(str(raw))}/*.gz) where you can write. "
                            f"{HOW_TO_FIX}") from None


def _copy_promised(source: gzip.GzipFile, target: BinaryIO, packed: Path) -> None:
    """Copy the IDX file decompressing from ``source`` (of the gzip file ``packed``) to
    ``target``: its header, then the bytes the header promises, read as a stream and no further
    than one byte past them — a ``.gz`` of a few megabytes may decompress to a disk's worth."""
    name = packed.name.removesuffix(".gz")
    magic, ndim = (LABEL_MAGIC, 1) if "labels" in name else (IMAGE_MAGIC, 3)
    header = source.read(4 * (1 + ndim))
    problem = None
    if len(header) < 4 * (1 + ndim):
        problem = f"{packed.name} decompresses to {len(header)} bytes, less than an IDX header"
    elif (found := struct.unpack_from(">I", header)[0]) != magic:
        problem = f"{packed.name} holds magic number {found}, expected {magic}"
    if problem:
        raise DataError(_corrupt_message(packed.parent, problem))
    promised = math.prod(struct.unpack_from(f">{ndim}I", header, 4))
    target.write(header)
    left = promised
    while left and (chunk := source.read(min(left, 1 << 20))):
        target.write(chunk)
        left -= len(chunk)
    if left or source.read(1):
        problem = (f"{packed.name} decompresses to {'fewer' if left else 'more'} bytes than its "
                   f"header promises ({len(header) + promised}); nothing of it was kept")
        raise DataError(_corrupt_message(packed.parent, problem))


def _not_found_message(root: Path, missing: list[str], why: str) -> str:
    """One line saying which files are missing from ``root``, why, and what to do."""
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    return (
        f"MNIST not found in {root} (expected MNIST/raw/{missing[0]}{more}) and {why}."
        f"{_layout_hint(root, missing)} {HOW_TO_FIX}"
    )


def _layout_hint(root: Path, missing: list[str]) -> str:
    """A hint when the files are there but compressed or in the wrong folder ("" if not)."""
    raw = _raw_folder(root)
    if any((raw / f"{name}.gz").is_file() for name in missing):
        return f" Found gzip files in {raw}: decompress them (gunzip {shlex.quote(str(raw))}/*.gz)."
    for folder in (root, root / "raw"):
        if folder != raw and (folder / missing[0]).is_file():
            return f" Found MNIST files in {folder}: move them to {raw}."
    return ""


def _download(root: Path) -> None:
    """Download MNIST into ``root/MNIST/raw/`` with torchvision, or raise ``DataError``.

    On failure, files and folders created by the attempt are removed; nothing that was
    there before is touched.
    """
    raw = _raw_folder(root)
    new_folders = [folder for folder in (root, raw.parent, raw) if not folder.exists()]
    old_files = set(raw.iterdir()) if raw.is_dir() else set()
    import torchvision  # here, not above: only a download needs it

    try:
        torchvision.datasets.MNIST(root, train=True, download=True)
    except BaseException as error:
        if isinstance(error, Exception) and not _missing_files(root):
            return  # the files arrived; reading them failed, which _read_split reports
        _remove_new(raw, old_files, new_folders)
        if isinstance(error, _DOWNLOAD_ERRORS):
            why = f"it could not be downloaded: {_reason(error)}"
            raise DataError(_not_found_message(root, _missing_files(root), why)) from error
        raise


def _remove_new(raw: Path, old_files: set[Path], new_folders: list[Path]) -> None:
    """Remove the files not in ``old_files`` from ``raw``, then the ``new_folders`` if empty."""
    try:
        for path in raw.iterdir() if raw.is_dir() else ():
            if path not in old_files and path.is_file():
                path.unlink()
        for folder in reversed(new_folders):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    except OSError:
        pass  # best effort: a leftover partial download is harmless


def _reason(error: BaseException, limit: int = 300) -> str:
    """An exception as one short line: its type and message."""
    text = _one_line(str(error))
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _read_split(root: Path, *, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Read the training (or test) images, uint8 (N, 28, 28), and labels, int64 (N,)."""
    image_file, label_file = _raw_files(train)
    raw = _raw_folder(root)
    images = _read_idx(raw, image_file, IMAGE_MAGIC, 3)
    labels = _read_idx(raw, label_file, LABEL_MAGIC, 1)
    if images.ndim != 3 or tuple(images.shape[1:]) != (IMAGE_SIDE, IMAGE_SIDE):
        shape = "x".join(str(size) for size in images.shape[1:])
        problem = f"{image_file} holds images of shape {shape}, expected 28x28"
        raise DataError(_corrupt_message(raw, problem))
    if images.shape[0] != labels.shape[0]:
        problem = (
            f"{image_file} holds {images.shape[0]} images but {label_file} "
            f"holds {labels.shape[0]} labels"
        )
        raise DataError(_corrupt_message(raw, problem))
    if images.shape[0] == 0:
        raise DataError(_corrupt_message(raw, f"{image_file} holds no images"))
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        problem = f"{label_file} holds labels outside 0..9 (max {int(labels.max())})"
        raise DataError(_corrupt_message(raw, problem))
    return images, labels.to(torch.int64)


def _corrupt_message(raw: Path, problem: str) -> str:
    """One line saying which file in ``raw`` is corrupt and what to do."""
    return (
        f"MNIST in {raw} is corrupt: {problem}. Replace the files with intact copies "
        f"(original MNIST, uncompressed). {HOW_TO_FIX}"
    )


def _read_idx(raw: Path, name: str, magic: int, ndim: int) -> torch.Tensor:
    """The uint8 tensor of IDX file ``raw/name``, its header checked against its size first."""
    try:
        data = (raw / name).read_bytes()
    except OSError as error:
        problem = f"{name} cannot be read: {_reason(error)}"
        raise DataError(_corrupt_message(raw, problem)) from error
    header_size = 4 * (1 + ndim)
    if len(data) < header_size:
        problem = (f"{name} is truncated: {len(data)} bytes, shorter than its "
                   f"{header_size}-byte header")
        raise DataError(_corrupt_message(raw, problem))
    found, *dims = struct.unpack_from(f">{1 + ndim}I", data)
    if found != magic:
        raise DataError(_corrupt_message(raw, f"{name} has magic number {found}, expected {magic}"))
    expected = header_size + math.prod(dims)
    if len(data) < expected:
        problem = f"{name} is truncated: {len(data)} bytes where its header promises {expected}"
        raise DataError(_corrupt_message(raw, problem))
    if len(data) > expected:
        problem = f"{name} has {len(data) - expected} bytes more than its header promises"
        raise DataError(_corrupt_message(raw, problem))
    if expected == header_size:
        return torch.empty(dims, dtype=torch.uint8)  # no items (frombuffer refuses no bytes)
    # a bytearray: the tensor gets writable memory of its own
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=header_size).view(dims)
