"""The benchmark runs end to end on tiny data (its numbers are not asserted: speed is no test)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from idx import write_idx_mnist

from mnist_mlp.engine import native
from mnist_mlp_lab.benchmark import (
    PHASES,
    Timing,
    phase_table,
    run_benchmark,
    run_phases,
    table,
    target_lines,
)
from mnist_mlp_lab.commands import bench as bench_command
from mnist_mlp_lab.commands.bench import costs_text
from mnist_mlp_lab.configurations import Settings
from mnist_mlp_lab.costs import (
    PRINT_PEAK,
    EvaluationCost,
    evaluation_cost,
    peak_memory,
    reproduction_cost,
    sweep_hours,
)

OPS = native.library(torch.float32) is not None  # the compiled loop, and its fallback

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_table(tmp_path):
    write_idx_mnist(tmp_path, n_train=60, n_test=20)
    timings = run_benchmark(str(tmp_path), [8], [1, 3], ["cpu"], warmup=20, report=lambda t: None)
    expected = [("naive", 1), ("reference", 1), ("engine", 1), ("engine", 3)]
    if OPS:
        expected += [("tensor-ops", 1), ("tensor-ops", 3)]
    assert [(t.method, t.networks) for t in timings] == expected
    assert all(t.images == 60 and t.seconds > 0 for t in timings)
    text = table(timings)
    assert text.count("\n") == 1 + len(timings) and "× naive" in text


def timings(naive: float, reference: float, one: float, ten: float) -> list[Timing]:
    """Epochs of 60,000 images on the CPU at l = 30: seconds of each method (``ten``: K = 10)."""
    return [Timing(method, "cpu", 30, k, seconds, 60_000) for method, k, seconds in
            (("naive", 1, naive), ("reference", 1, reference), ("engine", 1, one),
             ("engine", 10, ten))]


def test_the_targets_are_met_or_missed_as_the_timings_say():
    met = target_lines(timings(6.0, 1.5, 0.1, 1.0))  # 4x, 60x, 60x per network
    assert met == ("Targets on cpu, l = 30, in times the naive loop: engine, one network 60.0x "
                   "(target 20x: met); engine, per network at K >= 10 60.0x (target 40x: met); "
                   "reference loop 4.0x (target 3x: met).")
    missed = target_lines(timings(6.0, 3.0, 0.5, 2.0))  # 2x, 12x, 30x per network
    assert missed.count("missed") == 3 and "12.0x (target 20x: missed)" in missed


def test_the_reproductions_target_is_met_or_missed_as_measured():
    costs = {"evaluation_per_network": [], "peak_memory_bytes_l30": {"1": 1e9},
             "reproduction": {"wall": 120.0, "training": 100.0, "ratio": 1.2}}
    assert "wall / training = 1.20 (target 1.3: met)" in costs_text(costs)
    costs["reproduction"] = {"wall": 167.0, "training": 100.0, "ratio": 1.67}
    assert "wall / training = 1.67 (target 1.3: missed)" in costs_text(costs)


def test_bench_script_writes_json(tmp_path):
    write_idx_mnist(tmp_path, n_train=40, n_test=20)
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--data-dir",
                             str(tmp_path), "--hidden", "4", "--networks", "2", "--device", "cpu",
                             "--warmup", "10", "--json", str(out)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "| cpu | 4 | engine | 2 |" in result.stdout
    data = json.loads(out.read_text())
    assert data["machine"]["cores"] >= 1 and len(data["timings"]) == 3 + OPS
    assert data["reference_phases_us"]["4"].keys() == set(PHASES)
    assert "Where a step of the reference loop spends its time" in result.stdout
    # the report beside the JSON, and the same report again from the JSON alone
    assert "partial" not in data  # whole: the rows written as they came are replaced
    report = out.with_suffix(".md").read_text()
    assert "| cpu | 4 | engine | 2 |" in report and report in result.stdout
    out.with_suffix(".md").unlink()
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--from-json",
                            str(out)], capture_output=True, text=True, check=False)
    assert again.returncode == 0 and out.with_suffix(".md").read_text() == report


def test_a_bench_cut_short_keeps_the_rows_it_timed(tmp_path, monkeypatch, capsys):
    """Ctrl-C after the epochs were timed (here: as the reference loop's phases start): the
    JSON holds every row, marked partial, and the run ends in one line."""
    write_idx_mnist(tmp_path, n_train=40, n_test=20)
    out = tmp_path / "bench.json"

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench_command, "run_phases", interrupted)
    code = bench_command.main(["--data-dir", str(tmp_path), "--hidden", "4", "--networks", "2",
                               "--device", "cpu", "--warmup", "10", "--json", str(out)])
    assert code == 130 and "Traceback" not in capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["partial"] is True and len(data["timings"]) == 3 + OPS
    assert [t["method"] for t in data["timings"]][:3] == ["naive", "reference", "engine"]
    assert bench_command.report(data).startswith("**Cut short**")


@pytest.mark.parametrize(("where", "said"), [("a file/bench.json", "error: cannot write"),
                                             ("a folder", "error: --json ")])
def test_a_bench_whose_json_cannot_be_written_stops_before_timing(tmp_path, capsys, where, said):
    (tmp_path / "a file").write_text("")
    (tmp_path / "a folder").mkdir()
    code = bench_command.main(["--data-dir", str(tmp_path), "--json", str(tmp_path / where)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.startswith(said) and len(err.splitlines()) == 1


@pytest.mark.parametrize("device", ["meta", "cuda:7"])
def test_a_bench_on_a_device_it_cannot_time_stops_before_timing(tmp_path, capsys, device):
    """A device that computes nothing (meta), a GPU that is not there: one line, nothing timed."""
    code = bench_command.main(["--data-dir", str(tmp_path), "--device", device])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.startswith("error: ") and len(err.splitlines()) == 1


@pytest.mark.parametrize("content", ["", "[1]", '{"machine": {}, "native_loop": "", '
                                     '"timings": [{"method": "naive"}]}'])
def test_bench_from_a_bad_json_says_so_in_one_line(tmp_path, content):
    (tmp_path / "bench.json").write_text(content)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--from-json",
                             str(tmp_path / "bench.json")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_reference_phases_time_every_phase_of_the_step(tmp_path):
    write_idx_mnist(tmp_path, n_train=50, n_test=20)
    phases = run_phases(str(tmp_path), [3])[3]
    assert list(phases) == list(PHASES) and all(us > 0 for us in phases.values())
    assert phase_table({3: phases}).splitlines()[2].startswith("| 3 | ")


def test_bench_script_missing_data(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--data-dir",
                             str(tmp_path / "nowhere")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("error: MNIST not found") and "Traceback" not in result.stderr


def test_the_costs_of_a_sweep_are_measured(tiny_data):
    """Evaluation against training per network, a fresh process's peak memory, and the
    reproduction's wall time against its training time (on the tiny digits)."""
    cost = evaluation_cost(str(tiny_data), 8, networks=2, validation_size=50)
    assert cost.training > 0 and cost.evaluation > 0 and cost.networks == 2
    assert 50e6 < peak_memory(2, 8, str(tiny_data), validation_size=50) < 8e9
    settings = Settings(seeds=2, epochs=2, train_size=200, validation_size=50,
                        data_dir=str(tiny_data), device="cpu", only=("l30-softmax",))
    reproduction = reproduction_cost(settings)
    assert 0 < reproduction.training < reproduction.wall and reproduction.ratio > 1


def test_peak_memory_is_the_childs_own_not_its_parents():
    # ru_maxrss survives fork and exec: a child of this (now larger) process would report our
    # peak. VmHWM is the child's own.
    ballast = bytearray(400 * 2**20)
    ballast[:: 4096] = b"\1" * len(ballast[:: 4096])  # touch every page: resident
    done = subprocess.run([sys.executable, "-c", f"import json\n{PRINT_PEAK}"],
                          capture_output=True, text=True, check=True)
    assert int(done.stdout) < 200 * 2**20  # a bare Python: some 10 MB
    del ballast


def test_a_sweep_on_paper_is_paced_by_its_fullest_shard():
    cost = EvaluationCost(30, 10, training=2.0, evaluation=1.0)
    assert sweep_hours(cost, networks=10, workers=3, epochs=4) == 4 * 4 * 3.0 / 3600
    assert sweep_hours(cost, networks=12, workers=3, epochs=4) == 4 * 4 * 3.0 / 3600
    assert sweep_hours(cost, networks=1, workers=8, epochs=30) == 30 * 3.0 / 3600


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the script would run")
def test_the_gpu_check_without_a_gpu_is_one_line(tmp_path):
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), str(tmp_path)],
                          capture_output=True, text=True, check=False,
                          env=os.environ | {"PYTHON": sys.executable})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: no CUDA device here; run this script on a machine with a GPU\n"
    assert list(tmp_path.iterdir()) == []


def test_what_the_gpu_check_runs_exists_here():
    """The script runs where no CI reaches: every file it names exists, and every option it
    gives a script is one that script's --help offers (so that a renamed test file or flag does
    not first show on a lent GPU)."""
    script = (ROOT / "scripts" / "gpu_check.sh").read_text().replace("\\\n", " ")
    named = set(re.findall(r"\b((?:tests|scripts)/[\w/]+\.py)\b", script))
    assert {"tests/test_cuda.py", "scripts/bench.py", "scripts/train.py"} <= named
    bounds = sum(int(s) for s in re.findall(r"^step [\w-]+ (\d+) ", script, re.MULTILINE))
    assert f"the bounds add up to {bounds} s" in script and bounds < 6 * 60  # "under 6 minutes"
    assert [path for path in sorted(named) if not (ROOT / path).is_file()] == []
    for command in re.findall(r'"\$python" (scripts/\w+\.py)([^\n]*)', script):
        path, rest = command
        offered = subprocess.run([sys.executable, str(ROOT / path), "--help"], capture_output=True,
                                 text=True, check=True).stdout
        for option in re.findall(r"(--[\w-]+)", rest):
            assert re.search(re.escape(option) + r"(?![\w-])", offered), f"{path} has no {option}"
