"""The engines compared over seeds: paired differences, and whether they agree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import record

from mnist_mlp_lab.agreement import compare, markdown
from mnist_mlp_lab.configurations import Settings, configuration
from mnist_mlp_lab.report import save
from mnist_mlp_lab.results import ConfigurationResult, Reproduction, Run

ROOT = Path(__file__).resolve().parents[2]


def reproduction(finals: dict[int, float], first: float = 0.9,
                 name: str = "l30-cross_entropy") -> Reproduction:
    runs = [Run(seed, [record(1, first, first, loss=0.5), record(2, final, final, loss=0.4)])
            for seed, final in finals.items()]
    return Reproduction(Settings(seeds=len(finals), epochs=2, only=(name,)),
                        [ConfigurationResult(configuration(name), runs, 1.0)])


def test_paired_differences_seed_by_seed():
    fast = reproduction({0: 0.95, 1: 0.96, 2: 0.94, 3: 0.95})
    reference = reproduction({0: 0.951, 1: 0.957, 2: 0.942, 3: 0.95, 9: 0.5})  # seed 9: unpaired
    (c,) = compare(fast, reference)
    assert c.name == "l30-cross_entropy" and c.difference.n == 4
    assert c.difference.mean == pytest.approx((-0.001 + 0.003 - 0.002 + 0.0) / 4)
    assert c.difference.min == pytest.approx(-0.002) and c.difference.max == pytest.approx(0.003)
    assert c.reference.n == 4 and c.first_epoch_difference == 0.0
    assert c.agree


def test_a_systematic_difference_does_not_agree():
    fast = reproduction({0: 0.95, 1: 0.96, 2: 0.94, 3: 0.95})
    reference = reproduction({0: 0.93, 1: 0.945, 2: 0.925, 3: 0.93}, first=0.8)
    (c,) = compare(fast, reference)
    assert not c.agree and c.first_epoch_difference == pytest.approx(0.1)
    row = markdown([c]).splitlines()[2]
    assert row.startswith("| `l30-cross_entropy` | 4 |") and row.endswith("| no |")
    # s.e. = std 0.29 / √4, t = 1.75 / 0.144
    assert "+1.75 ± 0.14 points, t = +12.12, bound 3.18 (+1.50 to +2.00)" in row
    assert c.t == pytest.approx(c.difference.mean / c.standard_error)


def differences(values: list[float], seeds: int) -> tuple[Reproduction, Reproduction]:
    """Reproductions of ``seeds`` seeds whose paired differences (fast − reference) cycle
    through ``values``."""
    fast = {seed: 0.95 + values[seed % len(values)] for seed in range(seeds)}
    return reproduction(fast), reproduction(dict.fromkeys(range(seeds), 0.95))


@pytest.mark.parametrize(("seeds", "agree"), [(10, True), (30, False)])
def test_the_bound_is_students_t_for_the_seeds(seeds, agree):
    """t = 2.10 lies within Student's 95 % bound for 10 seeds (2.26) but beyond it for 30
    (2.05): a fixed 2 would have called both a disagreement."""
    values = [0.001, 0.003]  # mean 0.002, std ≈ 0.001: t = 0.002 / (std / √n)
    shrink = compare(*differences(values, seeds))[0].t / 2.10  # t grows as the spread shrinks
    (c,) = compare(*differences([0.002 + (v - 0.002) * shrink for v in values], seeds))
    assert c.t == pytest.approx(2.10, abs=1e-6)
    assert c.bound == pytest.approx({10: 2.2622, 30: 2.0452}[seeds], abs=1e-4)
    assert c.agree is agree
    assert markdown([c]).endswith(f"| {'yes' if agree else 'no'} |")


def test_t_where_every_seed_differs_alike():
    """No spread: t is 0 when the engines give the same accuracies, else ±∞ (and no agreement)."""
    same = compare(reproduction({0: 0.95, 1: 0.96}), reproduction({0: 0.95, 1: 0.96}))[0]
    assert same.t == 0 and same.agree
    shifted = compare(reproduction({0: 0.95, 1: 0.96}), reproduction({0: 0.94, 1: 0.95}))[0]
    assert shifted.t == float("inf") and not shifted.agree
    assert ", t = +inf, bound 12.71 (" in markdown([shifted])


def test_one_seed_has_no_bound():
    """One seed agrees only where the two accuracies are equal; the table shows no bound."""
    (equal,) = compare(reproduction({0: 0.95}), reproduction({0: 0.95}))
    (other,) = compare(reproduction({0: 0.95}), reproduction({0: 0.94}))
    assert equal.agree and not other.agree
    assert ", bound — (" in markdown([other])


def test_only_configurations_run_by_both_are_compared():
    fast = reproduction({0: 0.95}, name="l30-softmax")
    assert compare(fast, reproduction({0: 0.95})) == []


def test_script_writes_the_table(tmp_path):
    for name, finals in (("fast", {0: 0.95, 1: 0.96}), ("reference", {0: 0.95, 1: 0.955})):
        save(reproduction(finals), tmp_path / name)
    out = tmp_path / "engines.md"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_engines.py"),
                           str(tmp_path / "fast" / "reproduction.json"),
                           str(tmp_path / "reference" / "reproduction.json"), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_text().strip() == done.stdout.strip()
    assert "| `l30-cross_entropy` | 2 |" in done.stdout
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # what is not a file — a FIFO, a device such as /dev/null — is never replaced
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_engines.py"),
                           str(tmp_path / "fast" / "reproduction.json"),
                           str(tmp_path / "reference" / "reproduction.json"), "--out", str(fifo)],
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "not a file" in done.stderr and fifo.is_fifo()
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_script_says_what_is_wrong_in_one_line(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"not": "a reproduction"}))
    for files in ([tmp_path / "missing.json", tmp_path / "bad.json"],
                  [tmp_path / "bad.json", tmp_path / "bad.json"]):
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_engines.py"),
                               *map(str, files)], capture_output=True, text=True, check=False)
        assert done.returncode == 2 and done.stderr.startswith("error: ")
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
