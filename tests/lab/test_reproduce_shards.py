"""The reproduction past one process: run in shards (``--shard I/N``, or a Slurm job array's
task) and merged by ``scripts/reproduce.py --merge FOLDER`` into the report one process writes;
the command that merges a folder's shards named in one line by each merger given the other's
shards (``mnist-mlp-merge`` merges a train command's sweep); and the command line as typed,
torchrun's included."""

import json
import sys
from pathlib import Path

from helpers import job_array

from mnist_mlp.cli.merge import main as merge_main
from mnist_mlp.cli.train import main as train_main
from mnist_mlp.training.parallel import Launch
from mnist_mlp_lab.commands.reproduce import command_line
from mnist_mlp_lab.commands.reproduce import main as reproduce_main


def test_the_report_names_torchrun_and_its_ranks(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["scripts/reproduce.py", "--quiet"])
    monkeypatch.delenv("MNIST_DATA", raising=False)
    assert command_line(["--quiet"], Launch(0, 2, 0, 2)) == \
        "torchrun --standalone --nproc-per-node 2 scripts/reproduce.py --quiet"
    assert command_line(["--quiet"], Launch(5, 16, 1, 8)).startswith(
        "torchrun --nnodes 2 --nproc-per-node 8 scripts/reproduce.py")
    assert "torchrun" not in command_line(["--quiet"])


def reproduction_argv(tiny_data, out, *more):
    return ["--seeds", "3", "--epochs", "2", "--only", "l30-softmax", "l30-quadratic",
            "--train-size", "250", "--validation-size", "50", "--data-dir", str(tiny_data),
            "--out", str(out), "--log-dir", "", "--quiet", "--device", "cpu", *more]


def table_of(path: Path) -> list[str]:
    """A reproduction's table and evidence, without the lines that name its time and command."""
    return [line for line in path.read_text().splitlines()
            if line.startswith("|") and "wall" not in line]


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_the_reproduction_in_shards_merges_into_the_one_report(tiny_data, tmp_path, capsys):
    assert reproduce_main(reproduction_argv(tiny_data, tmp_path / "one")) == 0
    shards = tmp_path / "shards"
    for shard in ("1/2", "2/2"):
        assert reproduce_main(reproduction_argv(tiny_data, shards, "--shard", shard)) == 0
    assert capsys.readouterr().out.rstrip().endswith(f"scripts/reproduce.py --merge {shards}")
    assert not (shards / "reproduction.md").exists()
    assert merge_main([str(shards)]) == 2  # the library's merge names the lab's
    assert f"merge them with: python scripts/reproduce.py --merge {shards}" in one_line(capsys)
    assert reproduce_main(["--merge", str(shards)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("reproduction.png")
    merged, one = shards / "reproduction.json", tmp_path / "one" / "reproduction.json"
    assert table_of(merged.with_suffix(".md")) == table_of(one.with_suffix(".md"))

    def runs(path):  # each network's seed and history, without the time its epochs took
        return [[(r["seed"], [{k: v for k, v in e.items() if k != "seconds"}
                              for e in r["history"]]) for r in c["runs"]]
                for c in json.loads(path.read_text())["configurations"]]

    assert runs(merged) == runs(one)
    capsys.readouterr()


def test_the_reproduction_in_a_slurm_array_takes_the_tasks_shard(tiny_data, tmp_path,
                                                                 monkeypatch, capsys):
    job_array(monkeypatch, 0, 2, 0)  # --array=0-1
    assert reproduce_main(reproduction_argv(tiny_data, tmp_path / "shards")) == 0
    assert capsys.readouterr().out.startswith("shard 1/2 from the Slurm job array")
    assert [p.name for p in (tmp_path / "shards").glob("shard-*")] == ["shard-1-of-2.json"]


def test_the_lab_merges_no_train_sweep_and_names_the_command_that_does(tiny_data, tmp_path,
                                                                       capsys):
    folder = tmp_path / "sweep"
    for shard in ("1/2", "2/2"):
        assert train_main(["--engine", "fast", "--seeds", "2", "--hidden", "4", "--epochs", "1",
                           "--train-size", "100", "--validation-size", "50", "--device", "cpu",
                           "--data-dir", str(tiny_data), "--log-dir", str(folder), "--shard",
                           shard, "--quiet"]) == 0
    capsys.readouterr()
    assert reproduce_main(["--merge", str(folder)]) == 2
    assert f"merge them with: mnist-mlp-merge {folder}" in one_line(capsys)
    assert not (folder / "reproduction.md").exists()


def test_merging_trains_nothing(tmp_path, capsys):
    assert reproduce_main(["--merge", str(tmp_path), "--shard", "1/2"]) == 2
    assert "drop --shard" in one_line(capsys)
    assert reproduce_main(["--merge", str(tmp_path / "nowhere")]) == 2
    assert "no readable shard files" in one_line(capsys)
    (tmp_path / "a file").write_text("")
    assert reproduce_main(["--merge", str(tmp_path / "a file")]) == 2
    assert "the shards' folder" in one_line(capsys)
    assert not any(tmp_path.glob("reproduction*"))
