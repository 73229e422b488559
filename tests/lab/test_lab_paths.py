"""The results files the lab's commands read back (``--from-json PATH``, compare_engines' two
reproductions, claims' ``--reproduction``) are examined as the library examines every path a
user gives: a FIFO is refused unread (never waited on), a folder or a name too long is one line
and exit status 2, no traceback."""

import re
from contextlib import contextmanager

import pytest
from helpers import TOO_LONG, fifo_at, one_line_error

from mnist_mlp.errors import UserError
from mnist_mlp_lab.claims import reproduction_link

PROBLEMS = {"fifo": "is a FIFO (named pipe), not a file", "folder": "is a folder, not a file",
            "too long": "File name too long"}
"""Each path that is not a results file, and the words its one line says."""


@contextmanager
def bad_path(problem, tmp_path):
    if problem == "fifo":
        with fifo_at(tmp_path / "results.json") as fifo:
            yield fifo
    elif problem == "folder":
        (tmp_path / "results.json").mkdir()
        yield tmp_path / "results.json"
    else:
        yield tmp_path / f"{TOO_LONG}.json"


COMMANDS = {"bench": lambda path, out: ["--from-json", path],
            "claims": lambda path, out: ["--from-json", path, "--out", out],
            "reproduce": lambda path, out: ["--from-json", path, "--out", out],
            "compare_engines": lambda path, out: [path, path]}
"""The lab's commands that read a results file, and their arguments to read ``path``."""


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_results_file_that_is_no_file_is_one_line(command, problem, load_script, tmp_path,
                                                   capsys):
    with bad_path(problem, tmp_path) as path:
        argv = COMMANDS[command](str(path), str(tmp_path / "out"))
        assert load_script(command).main(argv) == 2
    err = one_line_error(capsys)
    assert PROBLEMS[problem] in err and "give " in err, err


@pytest.mark.parametrize("problem", PROBLEMS)
def test_claims_reproduction_that_is_no_file_is_one_line(problem, tmp_path):
    words = re.escape(PROBLEMS[problem])
    with bad_path(problem, tmp_path) as path, pytest.raises(UserError, match=words):
        reproduction_link(path)
    assert reproduction_link(tmp_path / "missing.json") is None
