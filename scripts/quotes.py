"""Refresh every quoted block of README.md and docs/*.md from the file it quotes.

    python scripts/quotes.py            # rewrite the blocks whose file has changed
    python scripts/quotes.py --check    # only name them (exit status 1 if any)

Every number the pages give is quoted from the file a script wrote, between two markers:

    <!-- quoted from results/bench.md: "| device |", "Machine:" -->
    ...the lines, as the file has them...
    <!-- end of quote -->

The file is named from the project folder. After the colon come selectors, in order, each
choosing lines of the file: ``"TEXT"`` the first line that starts with TEXT, ``last "TEXT"``
the last one; a line that starts a Markdown table (``|``) brings the whole table with it, so
a table is chosen by its header. ``""`` is the file's first line. A line chosen twice is
quoted once. In a block fenced with ```` ``` ```` lines apart in the file are joined by
``...``; outside a fence each choice is its own paragraph (a blank line between).

So after the scripts have written results/ again, this one command brings the pages to the
new numbers, and ``tests/test_readme.py`` holds them there. A missing file, a selector that
no longer matches or a broken marker is one line naming the page, and that block is left as
it was. The script imports nothing from the package.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = re.compile(r"<!-- quoted from (?P<source>[^:]+?)(?:: (?P<selectors>.*))? -->")
END = "<!-- end of quote -->"
SELECTOR = re.compile(r'\s*(?:(?P<last>last)\s+)?"(?P<text>[^"]*)"\s*(?:,|$)')
FENCE = "```"
ELISION = "..."


class QuoteError(Exception):
    """A quote that cannot be refreshed: its one line says which and why."""


@dataclass(frozen=True)
class Selector:
    """The first (or, with ``last``, the last) line of a file that starts with ``text``."""

    text: str
    last: bool = False


@dataclass(frozen=True)
class Quote:
    """One quoted block of a page: its marker's line (0-based), the lines between the markers
    (``start`` to ``end``, exclusive), the file quoted and how its lines are chosen."""

    line: int
    start: int
    end: int
    source: str
    selectors: tuple[Selector, ...]

    def fenced(self, page_lines: list[str]) -> bool:
        return any(line.strip() == FENCE for line in page_lines[self.start:self.end])


def parse_selectors(text: str | None) -> tuple[Selector, ...]:
    """``"A", last "B"`` → the selectors; text that is not a list of them is refused."""
    if not text:
        raise QuoteError('names no lines: add selectors, e.g. <!-- quoted from FILE: "| l |" -->')
    selectors, position = [], 0
    while position < len(text):
        match = SELECTOR.match(text, position)
        if match is None:
            raise QuoteError(f"cannot read the selectors {text!r}: write \"TEXT\" or "
                             "last \"TEXT\", separated by commas")
        selectors.append(Selector(match["text"], match["last"] is not None))
        position = match.end()
    return tuple(selectors)


def find_quotes(page_lines: list[str]) -> list[Quote]:
    """The quoted blocks of a page, in order; an unclosed or nested marker is refused."""
    quotes, open_at, source, selectors = [], None, "", ()
    for number, line in enumerate(page_lines):
        start = START.fullmatch(line.strip())
        if start is not None:
            if open_at is not None:
                raise QuoteError(f"{number + 1}: a quote begins inside the quote of line "
                                 f"{open_at + 1}; close that one with {END}")
            open_at, source = number, start["source"]
            try:
                selectors = parse_selectors(start["selectors"])
            except QuoteError as error:
                raise QuoteError(f"{number + 1}: the quote of {source} {error}") from None
        elif line.strip() == END:
            if open_at is None:
                raise QuoteError(f"{number + 1}: {END} without a quote before it")
            quotes.append(Quote(open_at, open_at + 1, number, source, selectors))
            open_at = None
    if open_at is not None:
        raise QuoteError(f"{open_at + 1}: the quote of {source} has no {END}")
    return quotes


def chosen(lines: list[str], selector: Selector) -> range:
    """The lines one selector chooses: the matching line, or the whole table it begins."""
    matches = [i for i, line in enumerate(lines) if line.startswith(selector.text)]
    if not matches:
        raise QuoteError(f"no line starts with {selector.text!r}")
    first = matches[-1] if selector.last else matches[0]
    stop = first + 1
    if lines[first].startswith("|"):
        while stop < len(lines) and lines[stop].startswith("|"):
            stop += 1
    return range(first, stop)


def render(source_text: str, selectors: tuple[Selector, ...], fenced: bool) -> list[str]:
    """What the block between the markers should be, from the file's text."""
    lines, taken, body = source_text.splitlines(), set(), []
    previous = None
    for selector in selectors:
        numbers = [i for i in chosen(lines, selector) if i not in taken]
        if not numbers:
            continue
        if previous is not None and not (fenced and numbers[0] == previous + 1):
            body.append(ELISION if fenced else "")
        body.extend(lines[i] for i in numbers)
        taken.update(numbers)
        previous = numbers[-1]
    return [FENCE, *body, FENCE] if fenced else body


@dataclass
class PageResult:
    """A page after its quotes were rendered: its new text, the stale quotes and the
    problems, each one line for the user."""

    text: str
    stale: list[str]
    problems: list[str]


def refresh_page(page: Path, root: Path) -> PageResult:
    """Every quote of ``page`` rendered from its file; a quote that cannot be is kept as is."""
    name = page.relative_to(root).as_posix() if page.is_relative_to(root) else str(page)
    text = read_text(page)
    page_lines = text.splitlines()
    try:
        quotes = find_quotes(page_lines)
    except QuoteError as error:
        return PageResult(text, [], [f"{name}:{error}"])
    stale, problems, new_lines, kept = [], [], [], 0
    for quote in quotes:
        new_lines.extend(page_lines[kept:quote.start])
        kept = quote.end
        old = page_lines[quote.start:quote.end]
        try:
            new = render(read_text(root / quote.source), quote.selectors, quote.fenced(page_lines))
        except (QuoteError, OSError, UnicodeDecodeError) as error:
            problems.append(f"{name}:{quote.line + 1}: the quote of {quote.source}: "
                            f"{describe(error)}")
            new = old
        if new != old:
            stale.append(f"{name}:{quote.line + 1}: the quote of {quote.source} is stale")
        new_lines.extend(new)
    new_lines.extend(page_lines[kept:])
    new_text = "\n".join(new_lines) + ("\n" if text.endswith("\n") else "")
    return PageResult(new_text, stale, problems)


def describe(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError):
        return "the file is missing (run the script that writes it)"
    if isinstance(error, OSError):
        return f"cannot read it ({error.strerror or error})"
    if isinstance(error, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return str(error)


def read_text(path: Path) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and rename it over: a page is never half written."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def pages(root: Path) -> list[Path]:
    """README.md and every docs/*.md page."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def run(root: Path, check: bool) -> int:
    """Refresh (or with ``check`` only report) every page's quotes; 1 if anything was stale
    in ``check`` mode or any quote could not be rendered, else 0."""
    status = 0
    for page in pages(root):
        try:
            result = refresh_page(page, root)
        except (OSError, UnicodeDecodeError) as error:
            print(f"{page}: {describe(error)}", file=sys.stderr)
            status = 1
            continue
        for problem in result.problems:
            print(problem, file=sys.stderr)
        status = max(status, int(bool(result.problems)))
        if check:
            for line in result.stale:
                print(line)
            status = max(status, int(bool(result.stale)))
        elif result.stale:
            try:
                write_text_atomically(page, result.text)
            except OSError as error:
                print(f"{page}: cannot write it ({error.strerror or error}); left as it was",
                      file=sys.stderr)
                status = 1
                continue
            print(f"{page.relative_to(root)}: refreshed {len(result.stale)} quote(s)")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only print the stale quotes; exit status 1 if there are any")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the project folder (default: the one this script is in)")
    args = parser.parse_args(argv)
    if not (args.root / "README.md").is_file():
        print(f"{args.root}: no README.md there; give the project folder with --root",
              file=sys.stderr)
        return 2
    try:
        return run(args.root.resolve(), args.check)
    except KeyboardInterrupt:
        print("interrupted; every page is whole (each is written at once or not at all)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
