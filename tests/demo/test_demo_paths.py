"""The demo's paths, examined inside its one-line error handling as every command's are
(tests/test_paths.py): a checkpoint that cannot be used, a screenshot path that cannot be
written — one line, exit status 2, and no waiting on a FIFO."""

import pytest
from helpers import TOO_LONG, one_line_error, unusable_checkpoint

from mnist_mlp_demo.command import main as demo_main


@pytest.fixture(scope="module")
def run(one_epoch_run):
    return one_epoch_run


@pytest.mark.parametrize("problem", ["too long", "locked", "fifo", "device", "locked run"])
def test_a_checkpoint_path_that_cannot_be_used(problem, tmp_path, capsys, request):
    words = {"too long": "File name too long", "locked": "Permission denied",
             "locked run": "Permission denied", "fifo": "is a FIFO (named pipe), not a file",
             "device": "is a character device, not a file"}[problem]
    with unusable_checkpoint(problem, tmp_path, request) as path:
        assert demo_main([str(path), "--port", "0"]) == 2
        err = one_line_error(capsys)
        assert words in err and "give a run folder" in err, err


@pytest.mark.parametrize("problem", ["too long", "locked", "folder"])
def test_a_screenshot_path_that_cannot_be_used(problem, run, tmp_path, capsys, request):
    words = {"too long": "File name too long", "locked": "Permission denied",
             "folder": "is a folder, not a file"}[problem]
    path = {"too long": tmp_path / f"{TOO_LONG}.png", "folder": tmp_path}.get(problem) \
        or request.getfixturevalue("locked") / "page.png"
    assert demo_main([str(run), "--screenshot", str(path)]) == 2
    err = one_line_error(capsys)
    assert words in err and "--screenshot" in err
