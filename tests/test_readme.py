"""README and the docs pages: the test command is the one CI runs, and every quoted block is
the lines of the file it quotes as that file is now (``scripts/quotes.py`` refreshes them)."""

import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Iterator
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
    first = text.splitlines()[0]  # the run's first line: what it trains, and where
    run_file.write_text(text.replace(first, "trains a 784-30-10 network", 1)
                        .replace(old, "accuracy: 97.00% (9700/10000)"))
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


def pages_text() -> dict[Path, str]:
    return {page: page.read_text() for page in quotes.pages(ROOT)}


def outside_fences(text: str) -> list[str]:
    """The page's lines that are not inside a fenced code block."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(text: str) -> Iterator[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as
    hyphens, a repeated one numbered."""
    seen: dict[str, int] = {}
    for line in outside_fences(text):
        if re.match(r"#{1,6} ", line):
            slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            seen[slug] = seen.get(slug, -1) + 1
            yield slug if seen[slug] == 0 else f"{slug}-{seen[slug]}"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def test_every_relative_link_points_at_a_file_and_heading_that_exist():
    texts = pages_text()
    checked = 0
    for page, text in texts.items():
        for line in outside_fences(text):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):  # https:, mailto:
                    continue
                path, _, anchor = target.partition("#")
                file = (page.parent / path).resolve() if path else page
                assert file.exists(), f"{page.name} links to {target}, which does not exist"
                if anchor:
                    assert file.suffix == ".md", f"{page.name}: an anchor into {path}"
                    assert anchor in set(anchors(file.read_text())), (
                        f"{page.name} links to {target}: no such heading")
                checked += 1
    assert checked >= 30


def test_the_pages_name_no_issue_and_no_build_machines_path():
    """Outside the quoted blocks (which are the scripts' own records) no page cites an issue
    a reader cannot open or gives the build machine's data folder as the way to run."""
    for page, text in pages_text().items():
        quoted = set()
        for quote in quotes.find_quotes(text.splitlines()):
            quoted.update(range(quote.start, quote.end))
        for number, line in enumerate(text.splitlines()):
            if number not in quoted:
                assert not re.search(r"\bissues? \d", line, re.I), f"{page.name}:{number + 1}"
                assert "shared/data" not in line, f"{page.name}:{number + 1}"


PATH = re.compile(r"`((?:mnist_mlp\w*|tests|scripts|examples|notebooks|results)/[\w./-]*\w"
                  r"\.(?:py|c|cu|h|sh|md|json|png|txt|ipynb))(?:::\w+)?`")


def named_paths() -> dict[str, set[str]]:
    """The files README and docs/ name in code spans (outside quotes), each with its pages."""
    named: dict[str, set[str]] = {}
    for page, text in pages_text().items():
        lines = text.splitlines()
        for quote in quotes.find_quotes(lines):
            lines[quote.start:quote.end] = [""] * (quote.end - quote.start)
        for path in PATH.findall("\n".join(lines)):
            named.setdefault(path, set()).add(page.name)
    return named


@pytest.mark.skipif(not (ROOT / "mnist_mlp_lab").is_dir(),
                    reason="the pages describe the library, lab and demo as three folders; "
                           "checked once mnist_mlp_lab/ exists")
def test_every_file_the_pages_name_exists():
    named = named_paths()
    assert len(named) >= 40
    missing = {path: pages for path, pages in named.items() if not (ROOT / path).exists()}
    assert not missing, f"the pages name files that do not exist: {missing}"


@pytest.mark.skipif(not (ROOT / "mnist_mlp_lab").is_dir(),
                    reason="the layout is the library, lab and demo as three folders; "
                           "checked once mnist_mlp_lab/ exists")
def test_the_layout_names_the_modules_there_are():
    """docs/layout.md: each module listed under a folder's row is in that folder."""
    folder, listed = None, 0
    for row in (ROOT / "docs" / "layout.md").read_text().splitlines():
        first = row.split(" | ")[0].removeprefix("| ")
        if re.fullmatch(r"\*\*`[\w/]+/`\*\*", first):
            folder = ROOT / first.strip("*`")
        elif first.startswith("`  ") and folder is not None:
            for name in re.findall(r"`\s*([^`]+?)`", first):
                assert (folder / name).exists(), f"layout.md lists {name} in {folder.name}/"
                listed += 1
    assert listed >= 40


def test_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for page in ("training", "speed", "reproduction", "claims", "guarantees", "scaling", "lab",
                 "layout"):
        assert f"(docs/{page}.md)" in readme


def chapter_map() -> list[tuple[str, str, str]]:
    """README's table of the chapter → code → test, as (chapter, code, test) cells."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## The chapter in code\n"):]
    section = section[:section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]
    return [tuple(cell.strip() for cell in row.strip("|").split(" | ")) for row in rows]


def test_the_chapter_map_names_functions_and_tests_that_exist():
    rows = chapter_map()
    assert len(rows) >= 15
    for chapter, code, test in rows:
        pieces = re.split(r"\[`[^`]+`\]\(([^)]+)\)", code)[1:]  # path, names, path, names…
        assert pieces, f"no code linked for {chapter}"
        for path, names in zip(pieces[::2], pieces[1::2], strict=True):
            source = (ROOT / path).read_text()
            for name in re.findall(r"`([\w.]+)`", names):
                assert re.search(rf"^\s*(def|class) {name.split('.')[-1]}\b", source, re.M), (
                    f"{path} defines no {name} ({chapter})")
        test_file = None
        for named in re.findall(r"`([^`]*::\w+)`", test):
            file, name = named.split("::")
            test_file = ROOT / file if file else test_file
            assert f"def {name}(" in test_file.read_text(), f"no test {named} ({chapter})"


def test_the_slowdown_sentence_is_the_slowdowns_json():
    runs = json.loads((ROOT / "results" / "slowdown.json").read_text())["runs"]
    run = {r["cost"]: r for r in runs if r["start"] == "saturated"}
    quadratic, cross_entropy = run["quadratic"], run["cross_entropy"]
    fallen = 100 * (1 - quadratic["loss"][50] / quadratic["loss"][0])
    sentence = (f"after 50 epochs the quadratic cost has fallen by {fallen:.1f} % (output "
                f"{quadratic['output'][50]:.3f}) while cross-entropy's output is already "
                f"{cross_entropy['output'][50]:.3f}.")
    assert sentence in " ".join((ROOT / "docs" / "reproduction.md").read_text().split())


def test_the_reproduction_over_two_ranks_has_the_table_of_one_process():
    """The scaling claim: the same command over two torchrun ranks gives the same table
    (and both that of results/reproduction.md)."""
    def rows(path: str) -> list[str]:
        text = (ROOT / "results" / path).read_text()
        return [line for line in text.splitlines() if line.startswith("| `l")]

    one = rows("scaling/one-process/reproduction.md")
    assert len(one) >= 8 and one == rows("scaling/two-ranks/reproduction.md")
    assert one == rows("reproduction.md")
