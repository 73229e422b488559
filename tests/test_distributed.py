"""Past one process: a sweep's networks dealt out over shards (torchrun ranks, or --shard I/N
runs merged afterwards), and the reference loop's mini-batches split over ranks (DDP). The
reproduction's shards: tests/lab/test_reproduce_shards.py."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import job_array, needs_cuda, wreck_in_engine

from mnist_mlp import TrainConfig, train, train_many
from mnist_mlp.cli.common import quoted
from mnist_mlp.cli.merge import main as merge_main
from mnist_mlp.cli.train import main as train_main
from mnist_mlp.errors import ConfigError
from mnist_mlp.training.checkpoints import LAST, load_checkpoint
from mnist_mlp.training.parallel import Launch, Shard, process_group, timeout

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent))


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_take_every_network_exactly_once_each_architecture_spread(count):
    groups = [[("l30", seed) for seed in range(10)], [("l100", seed) for seed in range(4)]]
    parts = [Shard(index, count).take(groups) for index in range(count)]
    for group, taken in zip(groups, zip(*parts, strict=True), strict=True):
        flat = [item for part in taken for item in part]
        assert sorted(flat) == sorted(group)  # each exactly once
        assert max(map(len, taken)) - min(map(len, taken)) <= 1  # spread evenly


def test_shard_numbers_on_the_command_line():
    assert Shard.parse("2/5") == Shard(1, 5) and str(Shard(1, 5)) == "2/5"
    for bad in ("0/3", "4/3", "two", "1/2/3", "1/100001"):  # more than merge would take
        with pytest.raises(ValueError, match="--shard"):
            Shard.parse(bad)


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)``: from now on torch sees n CUDA devices (none of them real)."""
    def install(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    return install


@pytest.mark.parametrize(("count", "auto", "cuda"), [
    (0, "cpu", "cuda:0"), (1, "cuda:0", "cuda:0"), (2, "cuda:1", "cuda:1"),
    (4, "cuda:1", "cuda:1")])
def test_each_rank_takes_a_gpu_of_its_own_where_there_are_enough(gpus, count, auto, cuda):
    """Local rank 1 of 2: its own GPU given two or more, the one shared given one; "cuda" without
    a GPU stays a GPU, for the driver to refuse in one line."""
    gpus(count)
    launch = Launch(rank=3, world_size=4, local_rank=1, local_world_size=2)
    assert (launch.device("auto"), launch.device("cuda")) == (auto, cuda)
    assert launch.device("cuda:0") == "cuda:0" and launch.device("cpu") == "cpu"
    assert Launch().device("auto") == "auto"  # one process: the driver chooses


@pytest.mark.parametrize(("count", "device", "backend", "current"), [
    (2, "auto", "nccl", "cuda:1"), (2, "cuda", "nccl", "cuda:1"), (2, "cuda:0", "gloo", "cuda:0"),
    (1, "auto", "gloo", "cuda:0"), (0, "auto", "gloo", None), (2, "cpu", "gloo", None)])
def test_the_group_is_nccl_only_where_each_rank_has_its_gpu(gpus, monkeypatch, count, device,
                                                             backend, current):
    """NCCL refuses two ranks on one GPU, and finds a rank's GPU as the current one: so the
    rank's GPU is made current, and ranks that share a GPU (one GPU, or one named by number
    for all) talk through gloo; every rank decides alike."""
    import torch.distributed as dist

    gpus(count)
    calls = []
    monkeypatch.setattr(torch.cuda, "set_device", lambda gpu: calls.append(("set", str(gpu))))
    def init(backend, timeout, device_id):
        calls.append(("init", backend, None if device_id is None else str(device_id)))

    monkeypatch.setattr(dist, "init_process_group", init)
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append(("destroy",)))
    with process_group(Launch(rank=1, world_size=2, local_rank=1, local_world_size=2), device):
        calls.append(("block",))
    assert calls == [*([("set", current)] if current else []),
                     ("init", backend, current if backend == "nccl" else None), ("block",),
                     ("destroy",)]


def test_a_rank_asking_for_a_gpu_that_is_not_there_stops_in_one_line(gpus):
    gpus(1)
    with pytest.raises(ConfigError, match="has 1 GPU"), \
            process_group(Launch(rank=1, world_size=2, local_rank=1, local_world_size=2),
                          "cuda:1"):
        pass


@pytest.fixture(scope="module")
def config(tiny_data):
    return TrainConfig(hidden_size=8, epochs=2, device="cpu", data_dir=str(tiny_data),
                       validation_size=50, log_dir=None)


@pytest.mark.parametrize("native", [False, None], ids=["tensor-ops", "native"])
def test_sharded_networks_are_those_of_one_sweep(config, native):
    """Each shard trains its networks exactly as the whole sweep does: bitwise in the compiled
    loop (each network alone), to float rounding with the tensor operations (batched)."""
    pairs = [(lr, seed) for lr in (0.5, 1.0) for seed in range(3)]
    whole = {(r.config.lr, r.config.seed): r for r in train_many(config, networks=pairs,
                                                                  native=native)}
    for shard in (Shard(0, 2), Shard(1, 2)):
        for result in train_many(config, networks=shard.take([pairs])[0], native=native):
            alone = whole[(result.config.lr, result.config.seed)]
            for name, value in result.model.state_dict().items():
                expected = alone.model.state_dict()[name]
                if native is None:
                    assert torch.equal(value, expected), name
                else:  # batched products round by K: within 1e-5 of the largest weight
                    scale = expected.abs().max()
                    assert (value - expected).abs().max() <= 1e-5 * scale, name


def sweep_argv(tiny_data, log_dir, *more):
    return ["--engine", "fast", "--seeds", "3", "--lr", "0.5", "1", "--hidden", "8", "--epochs",
            "2", "--device", "cpu", "--data-dir", str(tiny_data), "--validation-size", "50",
            "--log-dir", str(log_dir), *more]


def summary_of(out: str) -> str:
    return out[out.index("\nlr 0.5"):out.index("\nTensorBoard")]


def test_shards_run_apart_and_merged_give_the_sweeps_summary(tiny_data, tmp_path, capsys):
    assert train_main(sweep_argv(tiny_data, tmp_path / "whole")) == 0
    whole = summary_of(capsys.readouterr().out)
    for shard in ("1/2", "2/2"):
        assert train_main(sweep_argv(tiny_data, tmp_path / "shards", "--shard", shard)) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"shard {shard}, its share of a sweep of 6: training 3 networks "
                              "784-8-10 "), out  # the first line: what it trains, and where
        assert "mnist-mlp-merge" in out
    assert len([p for p in (tmp_path / "shards").iterdir() if p.is_dir()]) == 6
    assert merge_main([str(tmp_path / "shards")]) == 0
    assert summary_of(capsys.readouterr().out) == whole


def test_a_sharded_sweep_with_a_diverged_network_merges_to_the_sweeps_summary(
        tiny_data, tmp_path, capsys, monkeypatch):
    """Network (η 1, seed 1) diverges in epoch 1: the shard file keeps its NaN losses, and the
    merge counts it as diverged, not averaged in, exactly as the unsharded sweep does."""
    wreck_in_engine(monkeypatch, lr=1.0, seed=1)
    assert train_main(sweep_argv(tiny_data, tmp_path / "whole")) == 0
    out, err = capsys.readouterr()
    assert "seed 1 diverged in epoch 1" in err
    whole = summary_of(out)
    assert "lr 1, seeds 0…2: 3 runs, 1 diverged" in whole and "n = 2" in whole
    for shard in ("1/2", "2/2"):
        assert train_main(sweep_argv(tiny_data, tmp_path / "shards", "--shard", shard)) == 0
    capsys.readouterr()
    shards = [json.loads((tmp_path / "shards" / f"shard-{i}-of-2.json").read_text())
              for i in (1, 2)]
    (wrecked,) = [item for data in shards for item in data["items"]
                  if item["id"] == "lr=1.0,seed=1"]
    assert math.isnan(wrecked["history"][0]["minibatch_loss"])
    assert merge_main([str(tmp_path / "shards")]) == 0
    assert summary_of(capsys.readouterr().out) == whole


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_merge_refuses_a_missing_a_doubled_or_a_foreign_shard(tiny_data, tmp_path, capsys):
    folder = tmp_path / "shards"
    assert train_main(sweep_argv(tiny_data, folder, "--shard", "1/2")) == 0
    assert merge_main([str(folder)]) == 2
    assert "shard 2/2 missing" in (said := one_line(capsys)) and "(--shard 2/2)" in said
    assert train_main(sweep_argv(tiny_data, folder, "--shard", "2/2", "--epochs", "1")) == 0
    assert merge_main([str(folder)]) == 2
    assert "belong to different sweeps" in one_line(capsys)
    assert train_main(sweep_argv(tiny_data, folder, "--shard", "2/2")) == 0
    data = json.loads((folder / "shard-2-of-2.json").read_text())
    data["items"].append(data["items"][0])  # one network twice
    (folder / "shard-2-of-2.json").write_text(json.dumps(data))
    assert merge_main([str(folder)]) == 2
    assert "twice" in one_line(capsys)
    assert merge_main([str(tmp_path / "nowhere")]) == 2
    assert "no readable shard files" in one_line(capsys)


@pytest.mark.parametrize(("task", "count", "first", "step", "shard"), [
    (0, 4, 0, 1, "1/4"), (3, 4, 0, 1, "4/4"),  # --array=0-3
    (1, 4, 1, 1, "1/4"), (4, 4, 1, 1, "4/4"),  # --array=1-4
    (12, 4, 0, 4, "4/4"),                      # --array=0-12:4
])
def test_a_slurm_array_task_is_a_shard(monkeypatch, task, count, first, step, shard):
    job_array(monkeypatch, task, count, first, step)
    assert str(Shard.from_slurm()) == shard


def test_outside_a_job_array_there_is_no_slurm_shard(monkeypatch):
    assert Shard.from_slurm() is None
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")  # no count: not told enough
    assert Shard.from_slurm() is None


@pytest.mark.parametrize("env", [
    {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1"},
    {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0",
     "SLURM_ARRAY_TASK_STEP": "2"},
    {"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"},
    {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "99999999999999999999"},
])
def test_a_task_that_is_no_shard_is_refused(env):
    """Uneven ids (--array=1,3,7), a task off the step, a variable that is no number, more tasks
    than a merge takes."""
    with pytest.raises(ValueError, match="--shard I/N"):
        Shard.from_slurm(env)


def test_a_sweep_in_a_slurm_array_takes_the_tasks_shard(tiny_data, tmp_path, monkeypatch,
                                                       capsys):
    folder = tmp_path / "shards"
    for task in (1, 2):  # --array=1-2
        job_array(monkeypatch, task, 2, 1)
        assert train_main(sweep_argv(tiny_data, folder)) == 0
        first = capsys.readouterr().out.splitlines()[0]
        assert first.startswith(f"shard {task}/2 from the Slurm job array")
    assert {p.name for p in folder.glob("shard-*")} == {"shard-1-of-2.json", "shard-2-of-2.json"}
    assert merge_main([str(folder)]) == 0
    assert "3 runs, 0 diverged" in capsys.readouterr().out


def test_in_a_slurm_array_a_given_shard_or_a_lone_network_is_not_split(tiny_data, tmp_path,
                                                                      monkeypatch, capsys):
    job_array(monkeypatch, 2, 2, 1)
    assert train_main(sweep_argv(tiny_data, tmp_path / "given", "--shard", "1/2")) == 0
    assert "Slurm" not in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "given").glob("shard-*")] == ["shard-1-of-2.json"]
    lone = [*sweep_argv(tiny_data, tmp_path / "lone"), "--seeds", "1", "--lr", "0.5"]
    assert train_main(lone) == 0
    assert "Slurm" not in capsys.readouterr().out
    assert not list((tmp_path / "lone").glob("shard-*"))


@pytest.mark.parametrize(("argv", "words"), [
    (["--shard", "1/2"], "--shard splits a sweep of the fast engine"),
    (["--engine", "fast", "--shard", "1/2", "--log-dir", ""], "--shard writes its results"),
])
def test_what_cannot_be_split_is_one_line(argv, words, capsys):
    assert train_main(argv) == 2
    assert words in one_line(capsys)


def torchrun(tmp_path: Path, *argv: str, hook: str | None = None, timeout: int = 300,
             **more_env: str) -> subprocess.CompletedProcess:
    """Two ranks of scripts/train.py: rank 0's stdout; on stderr torchrun's report, then each
    rank's own (its last words, which torchrun's table of exit codes does not hold). ``hook``:
    a sitecustomize.py every rank runs first; ``more_env``: more of the ranks' environment.
    Each rank's own logs stay in tmp_path/torchrun-logs."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "MNIST_MLP_DIST_TIMEOUT": "60"} | more_env
    if hook is not None:
        (tmp_path / "hook").mkdir()
        (tmp_path / "hook" / "sitecustomize.py").write_text(hook)
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "hook"), str(ROOT)])
    logs = tmp_path / "torchrun-logs"
    done = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node", "2", "--log-dir",
                           str(logs), "--redirects", "3", str(ROOT / "scripts" / "train.py"),
                           *argv], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=timeout, check=False)
    said = {name: "".join(f"\n--- rank {path.parent.name}'s {name}:\n{path.read_text()}"
                          for path in sorted(logs.glob(f"*/attempt_*/*/{name}.log")))
            for name in ("stdout", "stderr")}
    rank_0 = next(logs.glob("*/attempt_0/0/stdout.log"), None)
    return subprocess.CompletedProcess(done.args, done.returncode, rank_0.read_text() if rank_0
                                       else said["stdout"], done.stderr + said["stderr"])


def weights_by_seed(log_dir: Path) -> dict[tuple[str, int], dict[str, torch.Tensor]]:
    checkpoints = [load_checkpoint(run / LAST) for run in log_dir.iterdir() if run.is_dir()]
    return {(f"{c.lr:g}", c.config["seed"]): c.model_state for c in checkpoints}


needs_torchrun = pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed")


@needs_torchrun
def test_a_sweep_under_torchrun_equals_one_process(tiny_data, tmp_path, capsys):
    """Two ranks share the sweep: the same run folders, the same weights (bitwise: the
    compiled loop trains each network alone), the summary printed once, by rank 0."""
    done = torchrun(tmp_path, *sweep_argv(tiny_data, tmp_path / "ranks"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("rank 0 of 2, its share of a sweep of 6: training 3 networks "
                                  "784-8-10 ")
    assert done.stdout.count("\nlr 0.5, seeds 0…2: 3 runs") == 1
    assert not list((tmp_path / "ranks").glob("shard-*"))  # gathered: no shard file is left
    assert train_main(sweep_argv(tiny_data, tmp_path / "one")) == 0
    assert summary_of(done.stdout) == summary_of(capsys.readouterr().out)
    ranks, one = weights_by_seed(tmp_path / "ranks"), weights_by_seed(tmp_path / "one")
    assert ranks.keys() == one.keys() and len(one) == 6
    for key, state in one.items():
        for name, value in state.items():
            assert torch.equal(ranks[key][name], value), (key, name)


THREADS_LEFT_BY_THE_GROUP = """\
# Each rank says how many threads its process group left running once destroyed (Linux).
import os, sys
import torch.distributed as dist
init, destroy = dist.init_process_group, dist.destroy_process_group
def threads():
    return len(os.listdir("/proc/self/task"))
def counted_init(*args, **kwargs):
    global before
    before = threads()
    init(*args, **kwargs)
def counted_destroy(*args, **kwargs):
    destroy(*args, **kwargs)
    print(f"threads the group left: {threads() - before}", file=sys.stderr)
if os.path.isdir("/proc/self/task"):
    dist.init_process_group, dist.destroy_process_group = counted_init, counted_destroy
"""


@needs_torchrun
@needs_cuda
@pytest.mark.parametrize("engine", [[], ["--engine", "reference", "--seeds", "1", "--lr", "0.5"]],
                         ids=["sweep", "data-parallel"])
def test_torchrun_on_cuda_trains_as_one_process(tiny_data, tmp_path, engine):
    """Two ranks, each on a GPU of this machine's (sharing one where there is one): the networks
    of one process on the GPU, to float32 rounding."""
    def argv(log_dir):
        return [*(("cuda" if a == "cpu" else a) for a in sweep_argv(tiny_data, log_dir)), *engine]

    done = torchrun(tmp_path, *argv(tmp_path / "ranks"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert " | device cuda" in done.stdout.splitlines()[0]
    assert train_main(argv(tmp_path / "one")) == 0
    ranks, one = weights_by_seed(tmp_path / "ranks"), weights_by_seed(tmp_path / "one")
    assert ranks.keys() == one.keys() and one
    for key, state in one.items():
        for name, value in state.items():
            torch.testing.assert_close(ranks[key][name], value, rtol=1e-4, atol=1e-5)


@needs_torchrun
def test_the_reference_loop_data_parallel_equals_one_process(tiny_data, tmp_path):
    """Each mini-batch of 10 split over two ranks (the last, of 5, too): the weights are those
    of one process, to float32 rounding; rank 0 alone writes the run folder. Destroying the
    process group ends its threads (one left running could abort a rank at its exit)."""
    argv = ["--hidden", "8", "--epochs", "2", "--device", "cpu", "--data-dir", str(tiny_data),
            "--validation-size", "45", "--log-dir"]  # 255 training images: a last batch of 5
    done = torchrun(tmp_path, *argv, str(tmp_path / "ddp"), hook=THREADS_LEFT_BY_THE_GROUP)
    assert done.returncode == 0, done.stderr[-2000:]
    if sys.platform == "linux":  # threads counted in /proc
        assert done.stderr.count("threads the group left: 0\n") == 2, done.stderr[-2000:]
    assert done.stdout.splitlines()[0].endswith(
        " | reference loop, data-parallel over 2 ranks | device cpu (asked for)")
    assert done.stdout.count("epoch   2") == 1
    (run_dir,) = (tmp_path / "ddp").iterdir()
    parallel = load_checkpoint(run_dir / LAST)
    one = train(TrainConfig(hidden_size=8, epochs=2, device="cpu", data_dir=str(tiny_data),
                            validation_size=45, log_dir=None))
    for name, value in one.model.state_dict().items():
        torch.testing.assert_close(parallel.model_state[name], value, rtol=1e-5, atol=1e-6)
    assert [r["test_accuracy"] for r in parallel.history] == [r.test_accuracy
                                                               for r in one.history]


HANG_AT_THE_GATHER = """\
# Rank 1 of the launch stops answering once it has trained its shard, before the gather.
import os
if os.environ.get("RANK") == "1":
    import time
    import torch.distributed as dist
    gather_object = dist.gather_object
    def hang(*args, **kwargs):
        time.sleep(300)
        return gather_object(*args, **kwargs)
    dist.gather_object = hang
"""


@needs_torchrun
def test_a_rank_that_stops_answering_ends_the_others_in_one_line(tiny_data, tmp_path):
    """With MNIST_MLP_DIST_TIMEOUT=3, rank 0 waits 3 s at the gather for a rank that hangs, then
    stops with one line and exit status 2 (torchrun then stops the hung rank)."""
    done = torchrun(tmp_path, *sweep_argv(tiny_data, "", "--seeds", "2", "--lr", "0.5"),
                    hook=HANG_AT_THE_GATHER, timeout=200, MNIST_MLP_DIST_TIMEOUT="3")
    assert done.returncode != 0
    (rank_0,) = (tmp_path / "torchrun-logs").glob("*/attempt_0/0/stderr.log")
    assert rank_0.read_text() == (
        "error: rank 0 of 2 trained its 1 networks to the last epoch (2), not kept (no "
        "--log-dir), but at the gather waited 3 s for the others: a rank stopped answering "
        "(crashed, hung, or far behind: its own output says which); if it is only slow, set "
        "MNIST_MLP_DIST_TIMEOUT to more seconds\n")


KILLED_AT_THE_GATHER = """\
# Rank 0 marks that it has reached the gather; rank 1, at the gather too, then gets $SIGNAL.
import os, signal, time
from pathlib import Path
import torch.distributed as dist
gather_object, mark = dist.gather_object, Path(os.environ["MARK"])
def gather(*args, **kwargs):
    if os.environ["RANK"] == "0":
        mark.touch()
    else:
        while not mark.exists():
            time.sleep(0.05)
        os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL"]))
        time.sleep(60)
    return gather_object(*args, **kwargs)
dist.gather_object = gather
"""


@needs_torchrun
@pytest.mark.parametrize("signal", ["SIGTERM", "SIGKILL"])
def test_a_rank_killed_at_the_gather_leaves_every_rank_a_true_last_line(tiny_data, tmp_path,
                                                                        signal):
    """Both ranks trained their 2 networks; rank 1 is stopped at the gather. Each rank that
    lives to say so says what it finished and kept: rank 0 that rank 1 stopped answering (or,
    once torchrun stops it too, that it was interrupted after the last epoch), never that it
    was interrupted before the first."""
    runs = tmp_path / "runs"
    done = torchrun(tmp_path, *sweep_argv(tiny_data, runs, "--seeds", "2", "--lr", "0.5", "1"),
                    hook=KILLED_AT_THE_GATHER, timeout=200, SIGNAL=signal,
                    MARK=str(tmp_path / "mark"))
    assert done.returncode != 0
    assert len([run for run in runs.iterdir() if (run / LAST).exists()]) == 4
    # each rank wrote its shard file before the gather: the sweep merges without it
    assert {p.name for p in runs.glob("shard-*")} == {"shard-1-of-2.json", "shard-2-of-2.json"}
    assert merge_main([str(runs)]) == 0
    last = {rank: next((tmp_path / "torchrun-logs").glob(f"*/attempt_0/{rank}/stderr.log"))
            .read_text().splitlines()[-1:] for rank in (0, 1)}
    complete = (f"interrupted after the last epoch (2): its 2 networks are complete and saved "
                f"in their run folders in {runs}")
    assert last[1] == ([f"rank 1 of 2: {complete}"] if signal == "SIGTERM" else [])
    lost = (f"error: rank 0 of 2 trained its 2 networks to the last epoch (2), kept in their "
            f"run folders in {runs}, but at the gather lost its connection to the others: a rank "
            "stopped answering (it crashed or was stopped: its own output says which); its "
            f"results are in {runs / 'shard-1-of-2.json'}: once every rank's shard file is in "
            f"{runs} (a rank that wrote none: train its share with --shard I/N), merge them: ")
    assert last[0] == [f"rank 0 of 2: {complete}"] or (
        last[0][0].startswith(lost) and last[0][0].endswith(f"mnist-mlp-merge {quoted(runs)}"))


@pytest.mark.parametrize("value", ["0", "-5", "soon", "inf", "1e15"])  # 1e15: overflows torch
def test_a_timeout_that_is_no_number_of_seconds_is_one_line(monkeypatch, value):
    monkeypatch.setenv("MNIST_MLP_DIST_TIMEOUT", value)
    with pytest.raises(ConfigError, match=r"MNIST_MLP_DIST_TIMEOUT=.* is not a number of seconds"):
        timeout()
    monkeypatch.setenv("MNIST_MLP_DIST_TIMEOUT", "2.5")
    assert timeout().total_seconds() == 2.5


@pytest.mark.parametrize(("env", "words"), [
    ({"RANK": "1", "WORLD_SIZE": "4"}, "RANK=1 WORLD_SIZE=4 as a launcher would, but not "
                                       "MASTER_ADDR or MASTER_PORT"),
    ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "node1"}, "but not MASTER_PORT"),
    ({"RANK": "4", "WORLD_SIZE": "4"}, "which are no ranks of a launch"),
    ({"RANK": "one", "WORLD_SIZE": "4"}, "which are no ranks of a launch"),
])
def test_a_launchers_variables_without_a_launcher_are_one_line(monkeypatch, capsys, tiny_data,
                                                               env, words):
    """RANK and WORLD_SIZE left in the environment (an old job script, a shell that ran
    torchrun's command by hand): one line that says what to unset, before anything starts."""
    for name in ("MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert train_main(["--epochs", "1", "--data-dir", str(tiny_data), "--log-dir", ""]) == 2
    err = one_line(capsys)
    assert words in err and "env -u RANK -u WORLD_SIZE" in err


def test_a_world_of_one_is_one_process(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    assert Launch.from_environment() == Launch()


INTERRUPTED_AFTER_EPOCH_1 = """\
# Each rank gets Ctrl-C as its second epoch begins: the first is trained and saved.
import os, signal
from mnist_mlp.training.fast import FastTrainer
epoch, calls = FastTrainer.epoch, []
def interrupted(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGINT)
    return epoch(self, *args, **kwargs)
FastTrainer.epoch = interrupted
"""


@needs_torchrun
def test_a_sweep_interrupted_under_torchrun_resumes_rank_by_rank_and_merges(tiny_data,
                                                                            tmp_path, capsys):
    """Ctrl-C in epoch 2 of 3 on both ranks: each rank names its share's manifest; each share
    resumed in one process, and merged, gives the summary and the weights (bitwise) of the
    sweep trained in one process without a stop."""
    runs, logs = tmp_path / "runs", tmp_path / "torchrun-logs"
    done = torchrun(tmp_path, *sweep_argv(tiny_data, runs, "--epochs", "3"),
                    hook=INTERRUPTED_AFTER_EPOCH_1, timeout=200)
    assert done.returncode != 0
    manifests = []
    for rank in (0, 1):
        last = next(logs.glob(f"*/attempt_0/{rank}/stderr.log")).read_text().splitlines()[-1]
        assert last.startswith(f"rank {rank} of 2: interrupted: every network of this rank's "
                               "share keeps its epoch 1"), last
        assert "mnist-mlp-merge" in last
        manifests.append(runs / f"{last.split(' --resume ')[1].split(',')[0].strip(chr(39))}")
    assert [m.name.endswith(f"-shard-{i}-of-2.json") for i, m in enumerate(manifests, 1)] == [
        True, True]
    for manifest in manifests:
        assert train_main(["--resume", str(manifest), "--quiet"]) == 0
    capsys.readouterr()
    assert merge_main([str(runs)]) == 0
    merged = summary_of(capsys.readouterr().out)
    assert train_main(sweep_argv(tiny_data, tmp_path / "one", "--epochs", "3")) == 0
    assert merged == summary_of(capsys.readouterr().out)
    ranks, one = weights_by_seed(runs), weights_by_seed(tmp_path / "one")
    assert ranks.keys() == one.keys() and len(one) == 6
    for key, state in one.items():
        for name, value in state.items():
            assert torch.equal(ranks[key][name], value), (key, name)
