"""``scripts/bench.py``: one training epoch of the naive user loop, the reference trainer and the
fused engine, timed.

    python scripts/bench.py [--hidden 30 100] [--networks 1 10 100] [--json results/bench.json]

Not a test: it prints a table of seconds per epoch, images/s and the ratio to the naive loop,
measured now on this machine (named in the output), and the time of each phase of a step of
the reference loop (load, forward, loss, backward, update).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path

import torch

from mnist_mlp.cli import one_line_errors
from mnist_mlp.engine import describe_fused_kernel, describe_native_loop
from mnist_mlp.errors import ConfigError
from mnist_mlp.files import FolderError, check_writable, write_atomically, write_json
from mnist_mlp.training import resolve_device

from ..benchmark import (
    Timing,
    as_json,
    cuda_index,
    phase_table,
    run_benchmark,
    run_phases,
    table,
    target_lines,
)
from ..configurations import Settings
from ..costs import EvaluationCost, evaluation_cost, peak_memory, reproduction_cost, sweep_hours
from ..machine import machine
from ..results import read_results
from .options import bench_parser as parser


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.from_json:
        result = load_json(args.from_json)
        print(report(result))
        return save_report(args.from_json.with_suffix(".md"), report(result))
    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:  # a GPU that is not there, a device that computes nothing (meta)
        resolve_device(device)
    if args.json:  # before timing anything, so that a bad path costs no run
        if args.json.is_dir():
            raise ConfigError(f"--json {args.json} is a folder; give a file in it, e.g. "
                              f"{args.json / 'bench.json'}")
        check_writable(args.json.parent, "the benchmark's JSON", "choose another --json")
        args.json.parent.mkdir(parents=True, exist_ok=True)
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()), flush=True)
    print("native loop:", describe_native_loop(), flush=True)
    fused = fused_kernel_line(devices)
    if fused:
        print("fused kernel:", fused, flush=True)
    extra = {"repeats": args.repeat} | ({"fused_kernel": fused} if fused else {})
    timings: list[Timing] = []

    def timed(t: Timing) -> None:
        print(f"  {t.device} l={t.hidden_size} {t.method} K={t.networks}: {t.seconds:.3f} s",
              flush=True)
        timings.append(t)
        if args.json:  # each row kept as it comes: a run cut short keeps what it measured
            write_result(args.json, as_json(timings) | extra | {"partial": True})

    run_benchmark(args.data_dir, args.hidden, args.networks, devices, args.warmup,
                  report=timed, repeats=args.repeat)
    phases = run_phases(args.data_dir, args.hidden)
    costs = (measure_costs(args.data_dir, args.hidden, args.repeat, devices[0])
             if args.costs else None)
    result = as_json(timings, phases) | extra | ({"costs": costs} if costs else {})
    print("\n" + report(result))
    if args.json:
        write_result(args.json, result)
        return save_report(args.json.with_suffix(".md"), report(result))
    return 0


@contextmanager
def writing(path: Path, fix: str = "") -> Iterator[None]:
    """The block writes ``path``: an ``OSError`` there becomes one line (``FolderError``), with
    ``fix`` (free space where the disk is full)."""
    try:
        yield
    except OSError as error:
        fix = "free some space" if error.errno == errno.ENOSPC else fix
        raise FolderError(f"cannot write {path}: {error.strerror or error}"
                          + (f"; {fix}" if fix else "")) from None


def write_result(path: Path, result: dict) -> None:
    """``result`` as JSON at ``path``, or one line where it cannot be (``writing``)."""
    with writing(path, "choose another --json"):
        write_json(path, result)


def fused_kernel_line(devices: list[str]) -> str | None:
    """What the engine's fused kernel is built with on the first CUDA device of ``devices``, or
    why it is not there; None when no CUDA device is timed."""
    cuda = [torch.device(name) for name in devices if torch.device(name).type == "cuda"]
    return describe_fused_kernel(cuda_index(cuda[0])) if cuda else None


def report(result: dict) -> str:
    """What a run of the benchmark measured (its JSON), as Markdown: the machine, the epochs,
    the reference loop's phases and, if measured, the costs besides training."""
    timings = [Timing(**{f.name: t[f.name] for f in fields(Timing)}) for t in result["timings"]]
    phases = {int(k): v for k, v in result.get("reference_phases_us", {}).items()}
    machine_line = ", ".join(f"{k} {v}" for k, v in result["machine"].items())
    repeats = result.get("repeats", 1)
    fused = f"; fused kernel: {result['fused_kernel']}" if "fused_kernel" in result else ""
    cut = ("**Cut short**: the rows timed before the run stopped, no more.\n\n"
           if result.get("partial") else "")
    text = (f"{cut}Machine: {machine_line}; native loop: {result['native_loop']}{fused}. "
            f"Each time is the fastest of {repeats} epoch{'s' * (repeats > 1)} in a row.\n\n"
            f"{table(timings)}\n\n{target_lines(timings)}\n\n"
            f"Where a step of the reference loop spends its time "
            f"(µs per mini-batch, CPU):\n\n{phase_table(phases)}\n")
    return text + (f"\n{costs_text(result['costs'])}\n" if "costs" in result else "")


def load_json(path: Path) -> dict:
    """An earlier run's JSON, or a one-line error."""
    result = read_results(path, "give the JSON file scripts/bench.py --json wrote", ConfigError)
    names = {f.name for f in fields(Timing)}
    if not (isinstance(result, dict) and {"machine", "native_loop", "timings"} <= set(result)
            and isinstance(result["machine"], dict) and isinstance(result["timings"], list)
            and all(isinstance(t, dict) and names <= set(t) for t in result["timings"])
            and isinstance(result.get("reference_phases_us", {}), dict)):
        raise ConfigError(f"{path} is not a JSON file written by scripts/bench.py --json")
    return result


def save_report(path: Path, text: str) -> int:
    """Write the Markdown report (atomically); 0, or one line where it cannot be
    (``writing``)."""
    with writing(path):
        write_atomically(path, lambda file: file.write(text.encode()))
    print(f"\nreport: {path}")
    return 0


MEMORY_NETWORKS = (1, 100, 1000)


def measure_costs(data_dir: str | None, hidden_sizes: list[int], repeats: int = 1,
                  device: str = "cpu") -> dict[str, object]:
    """Evaluation against training per network, peak memory by K, the reproduction's cost,
    all on ``device``."""
    evaluation = [asdict(evaluation_cost(data_dir, hidden, repeats=repeats, device=device))
                  for hidden in hidden_sizes]
    print("  evaluation:", evaluation, flush=True)
    memory = {str(k): peak_memory(k, 30, data_dir, device=device) for k in MEMORY_NETWORKS}
    print("  peak memory:", memory, flush=True)
    reproduction = reproduction_cost(Settings(data_dir=data_dir, device=device))
    return {"device": device, "evaluation_per_network": evaluation,
            "peak_memory_bytes_l30": memory,
            "reproduction": asdict(reproduction) | {"ratio": reproduction.ratio}}


REPRODUCTION_TARGET = 1.3
"""The reproduction's wall time, records and evaluation included, should stay within this many
times its training (the sum of its epochs' SGD steps)."""


def costs_text(costs: dict) -> str:
    """The costs as Markdown tables."""
    lines = ["| l | K | training s / epoch / network | evaluation s / network (3 splits) "
             "| evaluation / training |", "|---:|---:|---:|---:|---:|"]
    for e in costs["evaluation_per_network"]:
        lines.append(f"| {e['hidden_size']} | {e['networks']} | {e['training']:.4f} "
                     f"| {e['evaluation']:.4f} | {e['evaluation'] / e['training']:.2f} |")
    on_gpu = torch.device(costs.get("device", "cpu")).type == "cuda"
    lines += ["", f"| K (l = 30) | peak {'GPU memory' if on_gpu else 'memory (RSS)'} |",
              "|---:|---:|"]
    memory = {int(k): int(b) for k, b in costs["peak_memory_bytes_l30"].items()}
    lines += [f"| {k} | {b / 1e9:.2f} GB |" for k, b in memory.items()]
    few, many = min(memory), max(memory)
    if many > few:
        each = (memory[many] - memory[few]) / (many - few)
        lines += ["", f"from K = {few} to K = {many}: {each / 1e6:.2f} MB more per network"]
    r = costs["reproduction"]
    met = "met" if r["ratio"] <= REPRODUCTION_TARGET else "missed"
    lines += ["", f"reproduction: wall {r['wall']:.0f} s, training {r['training']:.0f} s, "
                  f"wall / training = {r['ratio']:.2f} (target {REPRODUCTION_TARGET:g}: {met})"]
    return "\n".join(lines) + "\n\n" + sweep_text(costs)


SWEEP_NETWORKS, SWEEP_WORKERS, SWEEP_MACHINES = 10_000, 8, (1, 2, 4, 8)


def sweep_text(costs: dict) -> str:
    """On paper: a 10,000-network, 30-epoch sweep over 8 workers per machine, each worker as
    fast as this machine measured (training and evaluation per network, above)."""
    lines = [f"On paper, {SWEEP_NETWORKS:,} networks x 30 epochs over {SWEEP_WORKERS} workers "
             "per machine, each worker as fast as the machine measured (hours):", "",
             "| l | " + " | ".join(f"{n} machine{'s' * (n > 1)}" for n in SWEEP_MACHINES) + " |",
             "|---:|" + "---:|" * len(SWEEP_MACHINES)]
    for e in costs["evaluation_per_network"]:
        cost = EvaluationCost(**e)
        lines.append(f"| {cost.hidden_size} | " + " | ".join(
            f"{sweep_hours(cost, SWEEP_NETWORKS, SWEEP_WORKERS * n):.2f}"
            for n in SWEEP_MACHINES) + " |")
    return "\n".join(lines)
