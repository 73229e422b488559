"""notebooks/training.ipynb: committed without outputs, the package's code with plotting around
it, and run top to bottom in a real kernel (nbclient, ipykernel) on MNIST."""

import ast
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "training.ipynb"
KERNEL = "mnist-mlp-tests"


def code_cells() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def test_it_is_committed_without_outputs():
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_its_code_is_the_packages_with_plotting_around_it():
    python = "\n".join(line for cell in code_cells() for line in cell.splitlines()
                       if not line.startswith("%"))  # IPython's magics aside
    nodes = list(ast.walk(ast.parse(python)))
    assert not [n for n in nodes if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))]
    modules = {alias.name for n in nodes if isinstance(n, ast.Import) for alias in n.names}
    modules |= {n.module for n in nodes if isinstance(n, ast.ImportFrom)}
    assert {m.split(".")[0] for m in modules} <= {"os", "pathlib", "matplotlib", "torch",
                                                 "tensorboard", "mnist_mlp", "mnist_mlp_lab"}


def test_quick_settings_at_the_top_and_the_chapters_one_edit_away():
    settings = code_cells()[0]
    assert settings.startswith("QUICK = True")
    quick, full = {}, {}
    exec(settings, quick)
    exec(settings.replace("QUICK = True", "QUICK = False", 1), full)
    assert (quick["TRAIN_SIZE"], quick["EPOCHS"]) == (5_000, 3)
    assert (full["TRAIN_SIZE"], full["EPOCHS"], full["SEEDS"]) == (None, 30, 10)
    assert (full["HIDDEN"], full["LR"], full["BATCH"]) == (30, 0.5, 10)


def test_it_says_where_the_chapter_errs_how_it_sums_and_what_the_default_trains():
    """The chapter's softmax gradient as printed is not credited as right; (35) and the softmax
    cross-entropy are sums over the samples there; the default is the recipe, (35) on a
    softmax."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    text = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    text = " ".join(text.split())
    assert "not what its derivation prints" in text and "F_nᵢ²" in text
    assert "Σᵢ [F_nᵢ(xᵢ) − y_nᵢ], is the same number for every output j" in text
    assert "are *sums* over the samples" in text
    assert "is the chapter's MNIST recipe" in text and '`loss="binary_cross_entropy"`' in text
    code = "\n".join(code_cells())
    assert "assert not torch.allclose(by_hand[\"output.bias\"], printed)" in code


@pytest.mark.skipif(not os.environ.get("MNIST_DATA"), reason="MNIST_DATA not set")
def test_it_runs_top_to_bottom_in_a_kernel(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # A kernel of this very Python (the test's virtual environment), found before any other.
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(spec.parents[1]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    folder = tmp_path / "notebooks"  # the notebook writes its runs into ../runs/notebook
    folder.mkdir()
    nbclient.NotebookClient(notebook, timeout=600, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(folder)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs]
    text = "".join(output.get("text", "") for output in outputs)
    figures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert not [output for output in outputs if output.output_type == "error"]
    assert len(figures) == 6  # losses, slowdown, digits, seeds, confusion matrix, TensorBoard
    assert "epoch  3  train loss" in text and "chosen by validation:" in text
    assert "accuracy/test" in text and "mnist-mlp-demo" in text
    assert "softmax output, loss binary_cross_entropy: the cross-entropy (35)" in text
    assert "the chapter's last line" in text
    runs = list((tmp_path / "runs" / "notebook").iterdir())
    assert len(runs) == 4  # the reference loop's run and three seeds'
