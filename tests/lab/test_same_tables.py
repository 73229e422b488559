"""The lab writes the tables it wrote before: a tiny reproduction and the claims measured from it,
on the tiny generated MNIST, rendered as Markdown, equal the stored ``expected/tiny-tables.md``
— paths to code and tests, timings and rounding-level residuals aside. A change that moves code
keeps this test green; a change of what is measured or how a verdict reads fails it.

After an intended change, write the expectation again, and review its diff:

    PYTHONPATH=. python tests/lab/test_same_tables.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

EXPECTED = Path(__file__).resolve().parent / "expected" / "tiny-tables.md"
TIMED = ("Wall time", "Total wall time", " s per network", "s/epoch")
"""Words of the lines that report a time (they differ from run to run)."""


def normalized(markdown: str) -> list[str]:
    """The lines of a report with its paths named, not spelled (``<path>``), residuals at the
    size of rounding (below 1e-9) as ``<tiny>``, and the lines that report a time left out."""
    lines = []
    for line in markdown.splitlines():
        if any(word in line for word in TIMED) or line.startswith("Command:"):
            continue
        line = re.sub(r"`[^`]*\.py[^`]*`", "`<path>`", line)
        line = re.sub(r"(tests|mnist_mlp\w*)/[\w/]*\.py", "<path>", line)
        lines.append(re.sub(r"\b\d(\.\d+)?e-(0?9|[1-9]\d)\b", "<tiny>", line))
    return lines


def tiny_tables(data_dir: Path, out: Path) -> list[str]:
    """A reproduction of three l = 30 configurations and the claims measured with it: 2 seeds,
    2 epochs, 200–250 training digits, on the CPU."""
    from mnist_mlp_lab.claim_settings import ClaimSettings
    from mnist_mlp_lab.claims import run_claims
    from mnist_mlp_lab.claims_report import markdown as claims_markdown
    from mnist_mlp_lab.configurations import Settings
    from mnist_mlp_lab.report import markdown as reproduction_markdown
    from mnist_mlp_lab.report import save
    from mnist_mlp_lab.reproduce import reproduce

    reproduction = reproduce(Settings(
        seeds=2, epochs=2, train_size=250, validation_size=50, data_dir=str(data_dir),
        device="cpu", log_dir=None,
        only=("l30-cross_entropy", "l30-quadratic", "l30-softmax_eq35")))
    saved = save(reproduction, out)
    claims = run_claims(ClaimSettings(
        seeds=2, epochs=2, train_size=200, validation_size=50, lrs=(0.01, 0.5, 100.0),
        hidden_sizes=(10, 30), batch_sizes=(1, 10, 100), updates=20, data_dir=str(data_dir),
        device="cpu", reproduction=str(saved["json"])), lambda line: None, "claims")
    return normalized(reproduction_markdown(reproduction)) + normalized(claims_markdown(claims))


def test_the_reproduction_and_the_claims_write_the_stored_tables(tiny_data, tmp_path):
    tables = tiny_tables(tiny_data, tmp_path)
    assert sum(line.startswith("| ") for line in tables) > 60
    assert tables == EXPECTED.read_text().splitlines()


def test_the_normalization_keeps_numbers_and_drops_only_paths_times_and_residuals():
    assert normalized("| 3 | `mnist_mlp_lab/sweeps.py` x | `tests/lab/test_claims.py::t` | "
                      "95.10 % to 3e-16 |") == ["| 3 | `<path>` x | `<path>` | 95.10 % to "
                                                "<tiny> |"]
    assert normalized("off by 2e-06, see tests/lab/test_errata.py):\nWall time 3 s") == [
        "off by 2e-06, see <path>):"]


if __name__ == "__main__":  # write the expectation again
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from idx import write_idx_mnist

    with tempfile.TemporaryDirectory() as folder:
        write_idx_mnist(Path(folder) / "mnist", n_train=300, n_test=100)
        lines = tiny_tables(Path(folder) / "mnist", Path(folder) / "out")
    EXPECTED.parent.mkdir(exist_ok=True)
    EXPECTED.write_text("\n".join(lines) + "\n")
    print(f"wrote {EXPECTED} ({len(lines)} lines)")
