"""Every path a command is given is examined inside its one-line error handling: a folder that may
not be entered, a name longer than the file system allows, a FIFO or a device where a file
belongs, a folder where a file belongs, a file where a folder belongs — one line, exit status 2,
in every command, and no command waits on a FIFO (the demo's: tests/demo/test_demo_paths.py)."""

import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import TOO_LONG, fifo_at, one_line_error, unusable_checkpoint
from idx import FILE_NAMES

from mnist_mlp.cli.evaluate import main as evaluate_main
from mnist_mlp.cli.merge import main as merge_main
from mnist_mlp.cli.predict import main as predict_main
from mnist_mlp.cli.train import main as train_main
from mnist_mlp.files import FILE, FOLDER, PathError, examine


@pytest.fixture(scope="module")
def run(one_epoch_run):
    return one_epoch_run


# --- the helper -------------------------------------------------------------------------------


def test_examine_names_the_path_and_what_it_is(tmp_path):
    assert examine(tmp_path / "nothing", "the thing", "fix it") is None
    assert examine(tmp_path / "a" / "b", "the thing", "fix it", FILE) is None
    assert examine(tmp_path, "the thing", "fix it", FOLDER).st_mode
    with pytest.raises(PathError, match=r"cannot examine the thing .*: File name too long; fix"):
        examine(tmp_path / TOO_LONG, "the thing", "fix it")
    with pytest.raises(PathError, match=r"the thing .* is a folder, not a file; fix it"):
        examine(tmp_path, "the thing", "fix it", FILE)
    with fifo_at(tmp_path / "fifo") as fifo, \
            pytest.raises(PathError, match=r"is a FIFO \(named pipe\), not a file"):
        examine(fifo, "the thing", "fix it", FILE)
    with pytest.raises(PathError, match="is a character device, not a file"):
        examine("/dev/zero", "the thing", "fix it", FILE)
    (tmp_path / "plain").write_text("")
    with pytest.raises(PathError, match="is a file, not a folder"):
        examine(tmp_path / "plain", "the thing", "fix it", FOLDER)


def test_a_locked_folder_cannot_be_examined(locked):
    with pytest.raises(PathError, match="Permission denied"):
        examine(locked / "last.pt", "the checkpoint", "fix it")


# --- checkpoints: evaluate, predict, train --resume ---- -------------------------------------


def checkpoint_commands(path, image, tiny_data):
    return [(evaluate_main, [str(path), "--data-dir", str(tiny_data)]),
            (predict_main, [str(path), str(image)]),
            (train_main, ["--resume", str(path), "--epochs", "3"])]


@pytest.mark.parametrize("problem", ["too long", "locked", "fifo", "device", "locked run"])
def test_a_checkpoint_path_that_cannot_be_used(problem, tmp_path, image, tiny_data, capsys,
                                               request):
    words = {"too long": "File name too long", "locked": "Permission denied",
             "locked run": "Permission denied", "fifo": "is a FIFO (named pipe), not a file",
             "device": "is a character device, not a file"}[problem]
    with unusable_checkpoint(problem, tmp_path, request) as path:
        for main, argv in checkpoint_commands(path, image, tiny_data):
            assert main(argv) == 2, main.__module__
            err = one_line_error(capsys)
            assert words in err and "give a run folder" in err, err


def test_a_checkpoint_in_a_run_folder_that_is_a_fifo(run, tmp_path, image, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(run / "last.pt", folder / "last.pt")
    with fifo_at(folder / "best.pt"):
        assert predict_main([str(folder), str(image)]) == 2
        assert "best.pt is a FIFO (named pipe), not a file" in one_line_error(capsys)


# --- images: predict --------------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["too long", "locked", "fifo", "device", "folder"])
def test_an_image_path_that_cannot_be_used(problem, run, tmp_path, capsys, request):
    words = {"too long": "File name too long", "locked": "Permission denied",
             "fifo": "is a FIFO (named pipe), not a file",
             "device": "is a character device, not a file",
             "folder": "is a folder, not a file"}[problem]
    if problem == "fifo":
        with fifo_at(tmp_path / "digit.png") as fifo:
            assert predict_main([str(run), str(fifo)]) == 2
    else:
        path = {"too long": tmp_path / f"{TOO_LONG}.png", "device": Path("/dev/zero"),
                "folder": tmp_path}.get(problem) or request.getfixturevalue("locked") / "a.png"
        assert predict_main([str(run), str(path)]) == 2
    err = one_line_error(capsys)
    assert words in err and "give a PNG or JPEG" in err


# --- data: train, evaluate --------------------------------------------------------------------


def data_commands(data_dir, run, log_dir):
    return [(train_main, ["--epochs", "1", "--hidden", "4", "--device", "cpu", "--data-dir",
                          str(data_dir), "--log-dir", str(log_dir), "--validation-size", "50"]),
            (evaluate_main, [str(run), "--data-dir", str(data_dir)])]


@pytest.mark.parametrize("problem", ["too long", "locked", "a file", "fifo"])
def test_a_data_folder_that_cannot_be_used(problem, run, tmp_path, capsys, request):
    words = {"too long": "File name too long", "locked": "Permission denied",
             "a file": "is a file, not a folder", "fifo": "is a FIFO (named pipe), not a folder"}
    with data_folder(problem, tmp_path, request) as data_dir:
        for main, argv in data_commands(data_dir, run, tmp_path / "runs"):
            assert main(argv) == 2
            err = one_line_error(capsys)
            assert words[problem] in err and "--data-dir" in err, err
    assert not (tmp_path / "runs").exists()


@contextmanager
def data_folder(problem, tmp_path, request):
    if problem == "too long":
        yield tmp_path / TOO_LONG
    elif problem == "locked":
        yield request.getfixturevalue("locked") / "mnist"
    elif problem == "a file":
        (tmp_path / "mnist").write_text("")
        yield tmp_path / "mnist"
    else:
        with fifo_at(tmp_path / "mnist") as fifo:
            yield fifo


@pytest.mark.parametrize("problem", ["fifo", "folder", "device"])
def test_a_data_file_that_is_no_file_is_refused_not_waited_on(problem, tiny_data, run, tmp_path,
                                                              capsys):
    """A FIFO (or a folder, or a device) in place of an MNIST file: refused in one line, never
    opened (a FIFO would make the command wait for a writer forever)."""
    shutil.copytree(tiny_data / "MNIST", tmp_path / "data" / "MNIST")
    raw = tmp_path / "data" / "MNIST" / "raw"
    target = raw / FILE_NAMES["test", "labels"]
    target.unlink()
    words = {"fifo": "is a FIFO (named pipe), not a file", "folder": "is a folder, not a file",
             "device": "is a character device, not a file"}[problem]
    with contextlib_file(problem, target):
        for main, argv in data_commands(tmp_path / "data", run, tmp_path / "runs"):
            assert main(argv) == 2
            err = one_line_error(capsys)
            assert f"{target} {words}" in err and "--data-dir" in err, err


@contextmanager
def contextlib_file(problem, target):
    if problem == "fifo":
        with fifo_at(target):
            yield
    elif problem == "folder":
        target.mkdir()
        yield
    else:
        target.symlink_to("/dev/zero")
        yield


# --- the log folder: train --------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["too long", "locked", "a file", "fifo"])
def test_a_log_folder_that_cannot_be_used(problem, tiny_data, tmp_path, capsys, request):
    words = {"too long": "File name too long", "locked": "Permission denied",
             "a file": "is not a folder", "fifo": "is not a folder"}[problem]
    with data_folder(problem, tmp_path, request) as log_dir:
        assert train_main(["--epochs", "1", "--hidden", "4", "--device", "cpu", "--data-dir",
                           str(tiny_data), "--log-dir", str(log_dir)]) == 2
        err = one_line_error(capsys)
        assert words in err and "--log-dir" in err, err


# --- the merge's folder ----------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["too long", "a file", "fifo", "locked"])
def test_a_merge_folder_that_cannot_be_used(problem, tmp_path, capsys, request):
    with data_folder(problem, tmp_path, request) as folder:
        assert merge_main([str(folder)]) == 2
        assert str(folder) in one_line_error(capsys)
