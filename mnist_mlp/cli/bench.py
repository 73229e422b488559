"""``scripts/bench.py``: one training epoch of the naive user loop, the reference trainer and the
fused engine, timed.

    python scripts/bench.py [--hidden 30 100] [--networks 1 10 100] [--json results/bench.json]

Not a test: it prints a table of seconds per epoch, images/s and the ratio to the naive loop,
measured now on this machine (named in the output), and the time of each phase of a step of
the reference loop (load, forward, loss, backward, update).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from ..engine import native
from ..experiments.benchmark import as_json, phase_table, run_benchmark, run_phases, table
from ..experiments.configurations import Settings
from ..experiments.costs import evaluation_cost, peak_memory, reproduction_cost
from ..experiments.machine import machine
from ..files import write_json
from .common import one_line_errors, positive_int


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Time one training epoch of the naive user loop, "
                                            "the reference trainer and the fused engine.")
    p.add_argument("--data-dir", help="folder holding MNIST/raw/ (default: $MNIST_DATA)")
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[30, 100])
    p.add_argument("--networks", type=positive_int, nargs="+", default=[1, 10, 100],
                   help="K values for the engine")
    p.add_argument("--device", nargs="+", default=None,
                   help="devices to time (default: cpu, and cuda when present)")
    p.add_argument("--warmup", type=positive_int, default=2000,
                   help="images in the untimed warm-up epoch")
    p.add_argument("--json", type=Path, help="also write the timings here")
    p.add_argument("--costs", action="store_true",
                   help="also measure what a sweep costs besides training: evaluation per "
                        "network, peak memory for K = 1, 100 and 1000 networks (l = 30), and "
                        "the reproduction's wall time against its training time (it runs the "
                        "whole reproduction)")
    return p


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()), flush=True)
    print("native loop:", native.describe(), flush=True)
    timings = run_benchmark(args.data_dir, args.hidden, args.networks, devices, args.warmup,
                            report=lambda t: print(f"  {t.device} l={t.hidden_size} "
                                                   f"{t.method} K={t.networks}: "
                                                   f"{t.seconds:.3f} s", flush=True))
    phases = run_phases(args.data_dir, args.hidden)
    costs = measure_costs(args.data_dir, args.hidden) if args.costs else None
    if args.json:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            write_json(args.json, as_json(timings, phases) | ({"costs": costs} if costs else {}))
        except OSError as error:
            print(f"error: cannot write {args.json}: {error.strerror or error}", file=sys.stderr)
            return 2
    print()
    print(table(timings))
    print("\nWhere a step of the reference loop spends its time (µs per mini-batch, CPU):\n")
    print(phase_table(phases))
    if costs:
        print("\n" + costs_text(costs))
    return 0


MEMORY_NETWORKS = (1, 100, 1000)


def measure_costs(data_dir: str | None, hidden_sizes: list[int]) -> dict[str, object]:
    """Evaluation against training per network, peak memory by K, the reproduction's cost."""
    evaluation = [asdict(evaluation_cost(data_dir, hidden)) for hidden in hidden_sizes]
    print("  evaluation:", evaluation, flush=True)
    memory = {str(k): peak_memory(k, 30, data_dir) for k in MEMORY_NETWORKS}
    print("  peak memory:", memory, flush=True)
    reproduction = reproduction_cost(Settings(data_dir=data_dir))
    return {"evaluation_per_network": evaluation, "peak_memory_bytes_l30": memory,
            "reproduction": asdict(reproduction) | {"ratio": reproduction.ratio}}


def costs_text(costs: dict) -> str:
    """The costs as Markdown tables."""
    lines = ["| l | K | training s / epoch / network | evaluation s / network (3 splits) "
             "| evaluation / training |", "|---:|---:|---:|---:|---:|"]
    for e in costs["evaluation_per_network"]:
        lines.append(f"| {e['hidden_size']} | {e['networks']} | {e['training']:.4f} "
                     f"| {e['evaluation']:.4f} | {e['evaluation'] / e['training']:.2f} |")
    lines += ["", "| K (l = 30) | peak memory |", "|---:|---:|"]
    lines += [f"| {k} | {int(b) / 1e9:.2f} GB |"
              for k, b in costs["peak_memory_bytes_l30"].items()]
    r = costs["reproduction"]
    lines += ["", f"reproduction: wall {r['wall']:.0f} s, training {r['training']:.0f} s, "
                  f"wall / training = {r['ratio']:.2f}"]
    return "\n".join(lines)
