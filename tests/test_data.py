"""Tests for mnist_mlp.data: reading MNIST files, the splits, errors, and mini-batches."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from idx import FILE_NAMES, make_digits, write_idx, write_idx_mnist

from mnist_mlp.data import (
    DataError,
    DigitTensors,
    MNISTSplits,
    batches,
    load_mnist,
    load_test_digits,
    resolve_data_dir,
    steps_per_epoch,
)
from mnist_mlp.data.mnist import ENV_VAR

TRAIN_IMAGES = FILE_NAMES["train", "images"]
TRAIN_LABELS = FILE_NAMES["train", "labels"]
TEST_IMAGES = FILE_NAMES["test", "images"]


@pytest.fixture
def tiny(tmp_path):
    """A tiny valid MNIST (60 training, 20 test images) under tmp_path/MNIST/raw."""
    return write_idx_mnist(tmp_path, n_train=60, n_test=20, seed=0)


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    """Tests start without MNIST_DATA (except the real-data test, which reads it first)."""
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def no_download(monkeypatch):
    """Make any download attempt fail at once, as it would offline, writing a partial file."""
    calls = []

    def fail(self):
        calls.append(self.root)
        raw = Path(self.raw_folder)
        raw.mkdir(parents=True, exist_ok=True)
        (raw / "train-images-idx3-ubyte.gz").write_bytes(b"partial")
        raise RuntimeError(
            "Error downloading train-images-idx3-ubyte.gz:\nTried a mirror, got:\nno"
        )

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fail)
    return calls


def flat(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 28, 28) as the module should give them: float32 (N, 784) / 256."""
    return images.reshape(len(images), 784).float() / 256


def assert_one_line(error: DataError) -> str:
    message = str(error)
    assert "\n" not in message and message.strip() == message
    return message


# --------------------------------------------------------------------------------------------
# Reading the files


def test_reads_tensors_with_shapes_dtypes_and_exact_values(tiny, tmp_path):
    splits = load_mnist(tmp_path, validation_size=10)
    assert isinstance(splits, MNISTSplits)
    for split, n in ((splits.train, 50), (splits.validation, 10), (splits.test, 20)):
        assert isinstance(split, DigitTensors)
        assert split.images.shape == (n, 784) and split.images.dtype == torch.float32
        assert split.labels.shape == (n,) and split.labels.dtype == torch.int64
        assert 0 <= split.images.min() and split.images.max() < 1
    # A known pixel: row 3, column 5 of the first training image is byte 3 * 28 + 5.
    byte = int(tiny.train_images[0, 3, 5])
    assert splits.train.images[0, 3 * 28 + 5].item() == byte / 256
    assert splits.train.images[0, 27 * 28 + 27].item() == 255 / 256  # written as 255
    assert torch.equal(splits.train.images, flat(tiny.train_images[:50]))
    assert torch.equal(splits.train.labels, tiny.train_labels[:50])
    assert torch.equal(splits.test.images, flat(tiny.test_images))
    assert torch.equal(splits.test.labels, tiny.test_labels)


def test_validation_is_the_last_images_and_training_the_first(tiny, tmp_path):
    splits = load_mnist(tmp_path, validation_size=10)
    assert torch.equal(splits.train.images, flat(tiny.train_images[:50]))
    assert torch.equal(splits.validation.images, flat(tiny.train_images[50:]))
    assert torch.equal(splits.validation.labels, tiny.train_labels[50:])


def test_train_size_keeps_the_first_training_images(tiny, tmp_path):
    splits = load_mnist(tmp_path, validation_size=10, train_size=7)
    assert torch.equal(splits.train.images, flat(tiny.train_images[:7]))
    assert torch.equal(splits.train.labels, tiny.train_labels[:7])
    assert torch.equal(splits.validation.labels, tiny.train_labels[50:])  # unchanged
    assert len(splits.test) == 20


def test_validation_size_zero_trains_on_everything(tiny, tmp_path):
    splits = load_mnist(tmp_path, validation_size=0)
    assert splits.validation is None
    assert torch.equal(splits.train.labels, tiny.train_labels)
    assert list(splits.named()) == ["train", "test"]
    with_validation = load_mnist(tmp_path, validation_size=10)
    assert list(with_validation.named()) == ["train", "test", "validation"]
    assert with_validation.named()["validation"] is with_validation.validation


@pytest.mark.parametrize(
    "kwargs",
    [
        {"validation_size": -1},
        {"validation_size": 60},
        {"validation_size": 10, "train_size": 0},
        {"validation_size": 10, "train_size": -5},
        {"validation_size": 10, "train_size": 51},
    ],
)
def test_bad_sizes_raise_value_error(tiny, tmp_path, kwargs):
    with pytest.raises(ValueError, match="_size"):
        load_mnist(tmp_path, **kwargs)


def test_splits_move_to_a_device(tiny, tmp_path):
    splits = load_mnist(tmp_path, validation_size=0).to("cpu")
    assert splits.validation is None and splits.train.images.device.type == "cpu"


# --------------------------------------------------------------------------------------------
# Errors a user can fix


def test_missing_folder_names_it_and_says_what_to_do(tmp_path, no_download):
    folder = tmp_path / "nowhere"
    with pytest.raises(DataError) as caught:
        load_mnist(folder)
    message = assert_one_line(caught.value)
    assert str(folder) in message
    assert "--data-dir" in message and ENV_VAR in message
    assert "downloaded only into ./data" in message  # why nothing was fetched
    assert no_download == []  # an explicit folder is never downloaded into
    assert not folder.exists()


def test_the_original_gzip_files_are_read_offline(tiny, tmp_path):
    """MNIST as distributed: the four .gz files only; no network is needed to read them."""
    raw = tiny.raw_folder
    for name in FILE_NAMES.values():
        with (raw / name).open("rb") as plain, gzip.open(raw / f"{name}.gz", "wb") as packed:
            packed.write(plain.read())
        (raw / name).unlink()
    data = load_mnist(tmp_path, validation_size=10, download=False)
    assert torch.equal(data.test.labels, tiny.test_labels)
    assert torch.equal(data.train.images, DigitTensors(*load_mnist(tmp_path, validation_size=10)
                                                       .train[:]).images)
    assert not list(raw.glob("*.tmp"))


def test_a_damaged_gzip_file_is_called_so(tiny, tmp_path):
    raw = tiny.raw_folder
    (raw / TRAIN_IMAGES).rename(raw / f"{TRAIN_IMAGES}.gz")  # not gzip inside
    with pytest.raises(DataError, match=r"\.gz cannot be decompressed"):
        load_mnist(tmp_path)


def gzip_all(raw: Path, extra: bytes = b"", cut: int = 0) -> None:
    """Replace the four files by their .gz; the training images' with ``extra`` bytes after
    what its header promises, or ``cut`` bytes fewer."""
    for name in FILE_NAMES.values():
        content = (raw / name).read_bytes()
        if name == TRAIN_IMAGES:
            content = content[:len(content) - cut] + extra
        with gzip.open(raw / f"{name}.gz", "wb") as packed:
            packed.write(content)
        (raw / name).unlink()


@pytest.mark.parametrize(("extra", "cut", "words"), [
    (bytes(50_000_000), 0, "more bytes than its header promises"),
    (b"", 100, "fewer bytes than its header promises")])
def test_a_gzip_file_is_decompressed_only_as_far_as_its_header_promises(
        tiny, tmp_path, monkeypatch, extra, cut, words):
    """A .gz that holds more than its IDX header promises (50 MB of zeros in 50 kB here; a disk's
    worth in a few MB, elsewhere) is refused after one byte more than the promise was read, and
    leaves nothing in the data folder; one that holds less, too."""
    raw = tiny.raw_folder
    promised = len((raw / TRAIN_IMAGES).read_bytes()) - cut
    gzip_all(raw, extra, cut)
    read = []
    real_open = gzip.open

    def counted(path, *args, **kwargs):
        stream = real_open(path, *args, **kwargs)
        real_read = stream.read

        def read_counted(size=-1):
            data = real_read(size)
            if Path(path).name == f"{TRAIN_IMAGES}.gz":
                read.append(len(data))
            return data

        stream.read = read_counted
        return stream

    monkeypatch.setattr("mnist_mlp.data.mnist.gzip.open", counted)
    with pytest.raises(DataError, match=f"{TRAIN_IMAGES}.gz decompresses to {words}"):
        load_mnist(tmp_path, download=False)
    assert sum(read) <= promised + 1
    # neither the file nor a temporary one (.train-images-idx3-ubyte.….tmp) is left
    assert [p.name for p in raw.iterdir() if TRAIN_IMAGES in p.name] == [f"{TRAIN_IMAGES}.gz"]


def test_a_gzip_file_that_holds_no_idx_file_is_called_so(tiny, tmp_path):
    raw = tiny.raw_folder
    gzip_all(raw)
    with gzip.open(raw / f"{TEST_IMAGES}.gz", "wb") as packed:
        packed.write(b"<html>not found</html>")
    with pytest.raises(DataError, match=f"{TEST_IMAGES}.gz holds magic number"):
        load_mnist(tmp_path, download=False)
    assert not (raw / TEST_IMAGES).exists() and not list(raw.glob("*.tmp"))


def test_an_unreadable_file_is_called_unreadable(tiny, tmp_path, monkeypatch):
    real_open = Path.open

    def refuse(path, *args, **kwargs):  # as chmod 000 would, for a user other than root
        if path.name == TEST_IMAGES:
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(DataError, match=f"cannot read .*{TEST_IMAGES}: Permission denied"):
        load_mnist(tmp_path)


def test_an_unreadable_folder_is_called_unreadable(tiny, tmp_path, monkeypatch):
    real_listdir = os.listdir

    def refuse(path):
        if Path(path) == tiny.raw_folder:
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", refuse)
    with pytest.raises(DataError, match=r"cannot read .*raw: Permission denied"):
        load_mnist(tmp_path)


def test_the_test_digits_alone_need_only_the_test_files(tiny, tmp_path):
    for name in (TRAIN_IMAGES, TRAIN_LABELS):
        (tiny.raw_folder / name).unlink()
    test = load_test_digits(tmp_path)
    assert torch.equal(test.labels, tiny.test_labels)
    with pytest.raises(DataError, match="MNIST not found"):
        load_mnist(tmp_path)


def test_files_outside_mnist_raw_get_a_hint(tmp_path):
    write_idx_mnist(tmp_path)
    loose = tmp_path / "loose"
    (tmp_path / "MNIST" / "raw").rename(loose)
    with pytest.raises(DataError, match="move them to"):
        load_mnist(loose)


@pytest.mark.parametrize("magic", [0, 2049, 0x12345678, 0x0A03, 0x0D03])
def test_wrong_magic_number_is_a_data_error(tiny, tmp_path, magic):
    write_idx(tiny.raw_folder / TRAIN_IMAGES, tiny.train_images, magic=magic)
    with pytest.raises(DataError, match="magic number") as caught:
        load_mnist(tmp_path)
    assert str(tiny.raw_folder) in assert_one_line(caught.value)


@pytest.mark.parametrize("file_name", [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES])
def test_truncated_file_is_a_data_error(tiny, tmp_path, file_name):
    path = tiny.raw_folder / file_name
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError, match=f"{file_name} is truncated") as caught:
        load_mnist(tmp_path)
    assert_one_line(caught.value)


@pytest.mark.parametrize("keep", [0, 2, 16])
def test_file_cut_inside_or_at_its_header_is_a_data_error(tiny, tmp_path, keep):
    path = tiny.raw_folder / TRAIN_IMAGES
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(DataError, match="truncated"):
        load_mnist(tmp_path)


def test_extra_bytes_are_a_data_error(tiny, tmp_path):
    path = tiny.raw_folder / TRAIN_IMAGES
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DataError, match="more than its header"):
        load_mnist(tmp_path)


def test_image_and_label_counts_must_agree(tiny, tmp_path):
    write_idx(tiny.raw_folder / TRAIN_LABELS, tiny.train_labels[:59])
    with pytest.raises(DataError, match=r"60 images but .* 59 labels") as caught:
        load_mnist(tmp_path)
    assert_one_line(caught.value)


def test_images_must_be_28_by_28(tiny, tmp_path):
    write_idx(tiny.raw_folder / TRAIN_IMAGES, tiny.train_images[:, :20, :20])
    with pytest.raises(DataError, match="20x20"):
        load_mnist(tmp_path)


def test_labels_must_be_digits(tiny, tmp_path):
    write_idx(tiny.raw_folder / TRAIN_LABELS, tiny.train_labels + 10)
    with pytest.raises(DataError, match=r"outside 0\.\.9"):
        load_mnist(tmp_path)


def test_failed_download_cleans_up_and_keeps_what_was_there(tmp_path, monkeypatch, no_download):
    monkeypatch.chdir(tmp_path)
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="could not be downloaded: RuntimeError") as caught:
        load_mnist()
    message = assert_one_line(caught.value)
    assert str(tmp_path / "data") in message and "--data-dir" in message
    assert len(no_download) == 1
    assert sorted(p.name for p in raw.iterdir()) == ["notes.txt"]  # partial .gz removed


def test_failed_download_removes_the_folders_it_created(tmp_path, monkeypatch, no_download):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="could not be downloaded"):
        load_mnist()
    assert list(tmp_path.iterdir()) == []


def test_download_into_the_default_folder(tmp_path, monkeypatch):
    def fake_download(self):
        if not (Path(self.raw_folder) / TRAIN_IMAGES).exists():
            write_idx_mnist(Path(self.root), n_train=30, n_test=10)

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fake_download)
    monkeypatch.chdir(tmp_path)
    splits = load_mnist(validation_size=5)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (25, 5, 10)
    assert (tmp_path / "data" / "MNIST" / "raw" / TRAIN_IMAGES).is_file()


def test_explicit_download_false_never_downloads(tmp_path, monkeypatch, no_download):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="downloading is off"):
        load_mnist(download=False)
    assert no_download == []


def test_data_error_is_always_one_line():
    assert str(DataError("a\nb\n  c")) == "a b c"


# --------------------------------------------------------------------------------------------
# Where the data is


def test_resolve_prefers_explicit_folder_then_env_then_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir(None) == (tmp_path / "data", True)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from-env"))
    assert resolve_data_dir(None) == (tmp_path / "from-env", False)
    assert resolve_data_dir(tmp_path / "given") == (tmp_path / "given", False)
    assert resolve_data_dir("relative") == (tmp_path / "relative", False)
    monkeypatch.setenv(ENV_VAR, "")
    assert resolve_data_dir(None) == (tmp_path / "data", True)


def test_resolve_accepts_the_mnist_and_raw_folders(tiny, tmp_path):
    assert resolve_data_dir(tmp_path) == (tmp_path, False)
    assert resolve_data_dir(tmp_path / "MNIST") == (tmp_path, False)
    assert resolve_data_dir(tmp_path / "MNIST" / "raw") == (tmp_path, False)
    splits = load_mnist(tmp_path / "MNIST" / "raw", validation_size=0)
    assert len(splits.train) == 60


def test_load_reads_the_env_folder(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert len(load_mnist(validation_size=0).train) == 60


# --------------------------------------------------------------------------------------------
# Mini-batches


class CountingDigits(DigitTensors):
    """DigitTensors that counts how often it is indexed."""

    def __init__(self, n: int) -> None:
        super().__init__(
            torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 784), torch.arange(n)
        )
        self.calls = 0

    def __getitem__(self, index):
        self.calls += 1
        return super().__getitem__(index)


def epoch_order(loader) -> list[int]:
    return [int(i) for _, labels in loader for i in labels]


def test_dataset_indexing_by_int_list_and_tensor():
    images, _ = make_digits(12)
    data = DigitTensors(torch.from_numpy(images).reshape(12, 784).float(), torch.arange(12))
    assert data[3][0].shape == (784,) and int(data[3][1]) == 3
    assert data[[1, 5, 2]][1].tolist() == [1, 5, 2]
    assert data[torch.tensor([7, 0])][1].tolist() == [7, 0]
    assert data[[4]][0].shape == (1, 784)
    assert len(data) == 12 and len(data.to("cpu")) == 12
    with pytest.raises(ValueError):
        DigitTensors(torch.zeros(3, 784), torch.zeros(2, dtype=torch.int64))


def test_batches_have_the_requested_size():
    data = CountingDigits(23)
    sizes = [len(labels) for images, labels in batches(data, 5)]
    assert sizes == [5, 5, 5, 5, 3]
    sizes = [len(labels) for images, labels in batches(data, 5, drop_last=True)]
    assert sizes == [5, 5, 5, 5]
    images, labels = next(iter(batches(data, 5)))
    assert images.shape == (5, 784) and images.dtype == torch.float32
    assert labels.dtype == torch.int64
    assert torch.equal(images[:, 0], labels.float())  # images and labels stay paired


def test_steps_per_epoch_counts_the_batches_the_loader_serves():
    assert [steps_per_epoch(n, m) for n, m in ((50_000, 10), (50_000, 3), (1, 10))] == [
        5000, 16_667, 1]
    for n, m in ((23, 5), (20, 5), (3, 10)):
        loader = batches(CountingDigits(n), m)
        assert steps_per_epoch(n, m) == len(loader) == len(list(loader))


def test_each_batch_is_one_tensor_index():
    data = CountingDigits(23)
    loader = batches(data, 4)
    assert sum(1 for _ in loader) == 6
    assert data.calls == 6


def test_every_epoch_covers_each_digit_once_in_a_new_order():
    data = CountingDigits(50)
    loader = batches(data, 8, generator=torch.Generator().manual_seed(0))
    first, second = epoch_order(loader), epoch_order(loader)
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert first != second
    assert first != list(range(50))


def test_same_seed_same_orders():
    data = CountingDigits(50)
    a = batches(data, 8, generator=torch.Generator().manual_seed(123))
    b = batches(data, 8, generator=torch.Generator().manual_seed(123))
    assert [epoch_order(a) for _ in range(3)] == [epoch_order(b) for _ in range(3)]


def test_seeded_loader_leaves_the_global_rng_alone():
    data = CountingDigits(20)
    state = torch.get_rng_state()
    epoch_order(batches(data, 3, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(torch.get_rng_state(), state)


def test_no_shuffle_keeps_file_order():
    data = CountingDigits(10)
    assert epoch_order(batches(data, 4, shuffle=False)) == list(range(10))


@pytest.mark.parametrize("batch_size", [0, -1])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        batches(CountingDigits(5), batch_size)


def test_batches_yield_tuples(tiny, tmp_path):
    splits = load_mnist(tmp_path, validation_size=10)
    batch = next(iter(batches(splits.train, 16)))
    assert isinstance(batch, tuple) and len(batch) == 2


# --------------------------------------------------------------------------------------------
# The real data (only when MNIST_DATA names it)

REAL_DATA = os.environ.get(ENV_VAR)


@pytest.mark.skipif(not REAL_DATA, reason=f"set {ENV_VAR} to a folder holding MNIST/raw/")
def test_real_mnist():
    splits = load_mnist(REAL_DATA)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (50_000, 10_000, 10_000)
    for split in (splits.train, splits.validation, splits.test):
        assert split.images.max() < 1 and split.images.min() >= 0
        assert set(split.labels.tolist()) == set(range(10))


def test_reading_mnist_does_not_import_torchvision(tmp_path):
    # torchvision costs a process some 160 MB of memory: only a download needs it
    write_idx_mnist(tmp_path)
    program = ("import sys\n"
               "from mnist_mlp.data import load_mnist\n"
               f"load_mnist({str(tmp_path)!r}, validation_size=2)\n"
               "print('torchvision' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_a_header_that_promises_more_than_mnist_is_refused_before_reading(tiny, tmp_path):
    """A .gz of a few bytes may decompress to gigabytes: a header promising more items than any
    MNIST file holds is refused before anything is read into memory."""
    raw = tiny.raw_folder
    gzip_all(raw)
    with gzip.open(raw / f"{TRAIN_IMAGES}.gz", "wb") as packed:
        packed.write(struct.pack(">IIII", 2051, 10_000_000, 28, 28))
    with pytest.raises(DataError, match=r"header promises 7,840,000,000 bytes, more than MNIST"):
        load_mnist(tmp_path)
