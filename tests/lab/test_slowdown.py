"""The learning slowdown of one sigmoid neuron plotted and tabled by ``scripts/slowdown.py``
(``mnist_mlp_lab.slowdown``; the neuron and its gradients themselves: tests/test_neuron.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_mlp.textbook.neuron import COSTS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slowdown.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def script(load_script):
    """scripts/slowdown.py as a module, to call its ``main`` in-process."""
    return load_script("slowdown")


def test_script_end_to_end(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPT), "--epochs", "20", "--quiet",
                           "--out", str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    png = (out / "slowdown.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 1000
    data = json.loads((out / "slowdown.json").read_text())
    runs = data["runs"]
    assert {(r["start"], r["cost"]) for r in runs} == {
        (s, c) for s in ("saturated", "not saturated") for c in COSTS}
    for r in runs:
        assert r["lr"] == 0.15
        for key in ("loss", "output", "w", "b", "grad_w", "grad_w_analytic"):
            assert len(r[key]) == 21
    assert sorted(p.name for p in out.iterdir()) == ["slowdown.json", "slowdown.png"]


def test_script_prints_the_table(script, tmp_path, capsys):
    assert script.main(["--epochs", "60", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "F@50" in printed and "C@60" in printed
    assert "saturated" in printed and "cross_entropy" in printed
    assert json.loads((tmp_path / "slowdown.json").read_text())["runs"][0]["cost"] == "quadratic"


def test_script_cannot_write(script, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert script.main(["--epochs", "5", "--out", str(blocker / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("error: cannot write to")
