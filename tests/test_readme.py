"""README's test command is the one CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci_lines[-1].strip()
    assert command.startswith("python3 -m venv .venv") and "pytest" in command
    assert command in (ROOT / "README.md").read_text().splitlines()
