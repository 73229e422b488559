"""README's test command is the one CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci_lines[-1].strip()
    assert command.startswith("python3 -m venv .venv") and "pytest" in command
    assert command in (ROOT / "README.md").read_text().splitlines()


def quoted_blocks() -> list[tuple[str, list[str]]]:
    """README's blocks between ``<!-- quoted from PATH -->`` and ``<!-- end of quote -->``: the
    file and the block's non-empty lines."""
    blocks, current = [], None
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("<!-- quoted from "):
            current = (line.removeprefix("<!-- quoted from ").removesuffix(" -->"), [])
        elif line == "<!-- end of quote -->":
            blocks.append(current)
            current = None
        elif current is not None and line.strip() not in ("", "```", "..."):  # fences, elisions
            current[1].append(line)
    return blocks


def test_readme_quotes_the_generated_reports_verbatim():
    """README's numbers on the reproduction and the claims are the scripts' own words, not a
    copy typed by hand: every line of a quoted block is a line of the file it names."""
    blocks = quoted_blocks()
    assert {path for path, _ in blocks} >= {"results/reproduction.md", "results/claims.md",
                                            "results/train-reference.txt", "results/bench.md"}
    for path, lines in blocks:
        source = set((ROOT / path).read_text().splitlines())
        assert lines, f"an empty quote of {path}"
        for line in lines:
            assert line in source, f"README quotes a line {path} does not have: {line[:80]}"


def test_the_reproduction_over_two_ranks_has_the_table_of_one_process():
    """README's scaling claim: the same command over two torchrun ranks gives the same table
    (and both that of results/reproduction.md)."""
    def rows(path: str) -> list[str]:
        text = (ROOT / "results" / path).read_text()
        return [line for line in text.splitlines() if line.startswith("| `l")]

    one = rows("scaling/one-process/reproduction.md")
    assert len(one) >= 8 and one == rows("scaling/two-ranks/reproduction.md")
    assert one == rows("reproduction.md")
