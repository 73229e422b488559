"""README and the docs pages: the test command is the one CI runs, and every quoted block is
the lines of the file it quotes as that file is now (``scripts/quotes.py`` refreshes them)."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_quotes():
    name = "scripts_quotes"  # registered before it runs: its dataclasses look themselves up
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "quotes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


quotes = load_quotes()


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci_lines[-1].strip()
    assert command.startswith("python3 -m venv .venv") and "pytest" in command
    assert command in (ROOT / "README.md").read_text().splitlines()


def test_every_quote_is_its_file_as_it_is_now():
    """The numbers of README and docs/ are the scripts' own words, not a copy typed by hand:
    each quoted block is what ``scripts/quotes.py`` renders from its file today."""
    sources = set()
    for page in quotes.pages(ROOT):
        result = quotes.refresh_page(page, ROOT)
        assert not result.problems, result.problems
        assert not result.stale, (f"{result.stale}: run python scripts/quotes.py after "
                                  "regenerating results/")
        sources |= {q.source for q in quotes.find_quotes(page.read_text().splitlines())}
    assert sources >= {"results/reproduction.md", "results/claims.md", "results/bench.md",
                       "results/train-reference.txt"}


def selected(text: str, selectors: str, fenced: bool = False) -> list[str]:
    return quotes.render(text, quotes.parse_selectors(selectors), fenced)


def test_selectors_choose_lines_and_whole_tables():
    text = "head\nepoch 1 a\nepoch 2 b\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\nlast line\n"
    assert selected(text, '"| x |"') == ["| x | y |", "|---|---|", "| 1 | 2 |"]
    assert selected(text, '"epoch", last "epoch"', fenced=True) == [
        "```", "epoch 1 a", "epoch 2 b", "```"]  # adjacent lines: no elision
    assert selected(text, '"", "head", last "epoch", "last"', fenced=True) == [
        "```", "head", "...", "epoch 2 b", "...", "last line", "```"]  # "head" chosen once
    assert selected(text, '"epoch", "| x |"') == ["epoch 1 a", "", "| x | y |", "|---|---|",
                                                 "| 1 | 2 |"]
    with pytest.raises(quotes.QuoteError, match="no line starts with 'missing'"):
        selected(text, '"missing"')
    for bad in ("", "epoch", '"a" "b"', 'first "a"'):
        with pytest.raises(quotes.QuoteError):
            quotes.parse_selectors(bad)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """README, docs/ and results/ copied, as the lead has them after regenerating results/."""
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copytree(ROOT / "results", tmp_path / "results")
    if (ROOT / "docs").is_dir():
        shutil.copytree(ROOT / "docs", tmp_path / "docs")
    return tmp_path


def test_a_stale_quote_is_named_then_refreshed(project_copy, capsys):
    run_file = project_copy / "results" / "train-reference.txt"
    text = run_file.read_text()
    old = next(line for line in text.splitlines() if line.startswith("accuracy:"))
    run_file.write_text("trains a 784-30-10 network\n"
                        + text.replace(old, "accuracy: 97.00% (9700/10000)"))
    assert quotes.main(["--check", "--root", str(project_copy)]) == 1
    stale = capsys.readouterr().out.splitlines()
    assert stale and all("the quote of results/train-reference.txt is stale" in line
                         for line in stale)
    assert any(line.startswith("README.md:") for line in stale)
    assert "97.00%" not in (project_copy / "README.md").read_text()  # --check writes nothing

    assert quotes.main(["--root", str(project_copy)]) == 0
    readme = (project_copy / "README.md").read_text()
    assert "accuracy: 97.00% (9700/10000)" in readme and old not in readme
    assert "```\ntrains a 784-30-10 network\nepoch   1 " in readme  # the new first line
    assert quotes.main(["--check", "--root", str(project_copy)]) == 0
    assert not list(project_copy.rglob("*.tmp"))


def test_a_missing_file_is_one_line_and_its_quote_is_kept(project_copy, capsys):
    (project_copy / "results" / "claims.md").unlink()
    pages = {p: p.read_text() for p in quotes.pages(project_copy)}
    assert quotes.main(["--root", str(project_copy)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines and all(line.endswith("the quote of results/claims.md: the file is missing "
                                       "(run the script that writes it)") for line in lines)
    assert "Traceback" not in captured.err
    assert {p: p.read_text() for p in pages} == pages


def test_a_broken_marker_is_one_line(tmp_path, capsys):
    (tmp_path / "README.md").write_text('<!-- quoted from a.txt: "x" -->\nx\n')
    assert quotes.main(["--check", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        "README.md:1: the quote of a.txt has no <!-- end of quote -->\n")
    (tmp_path / "README.md").write_text("<!-- quoted from a.txt -->\nx\n<!-- end of quote -->\n")
    assert quotes.main(["--root", str(tmp_path)]) == 1
    assert "names no lines" in capsys.readouterr().err
    assert quotes.main(["--root", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_reproduction_over_two_ranks_has_the_table_of_one_process():
    """The scaling claim: the same command over two torchrun ranks gives the same table
    (and both that of results/reproduction.md)."""
    def rows(path: str) -> list[str]:
        text = (ROOT / "results" / path).read_text()
        return [line for line in text.splitlines() if line.startswith("| `l")]

    one = rows("scaling/one-process/reproduction.md")
    assert len(one) >= 8 and one == rows("scaling/two-ranks/reproduction.md")
    assert one == rows("reproduction.md")
