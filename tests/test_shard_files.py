"""Shard files as data: whatever a shard file holds — cut short, junk, hostile counts, deep
nesting, a FIFO or a folder in its place — ``mnist-mlp-merge`` answers in one line naming it,
with exit status 2, in bounded time and memory."""

import json
import os
import shutil
from pathlib import Path

import pytest

from mnist_mlp.cli.merge import main as merge_main
from mnist_mlp.cli.train import main as train_main

FIRST = "shard-1-of-2.json"


@pytest.fixture(scope="module")
def shards(tiny_data, tmp_path_factory) -> Path:
    """A folder with the two shard files of a sweep of 2 × 2 networks, 2 epochs."""
    folder = tmp_path_factory.mktemp("shards")
    for shard in ("1/2", "2/2"):
        argv = ["--engine", "fast", "--seeds", "2", "--lr", "0.5", "1", "--hidden", "8",
                "--epochs", "2", "--device", "cpu", "--data-dir", str(tiny_data),
                "--validation-size", "50", "--log-dir", str(folder), "--shard", shard,
                "--quiet"]
        assert train_main(argv) == 0
    return folder


def edited(change):
    """A damage done to the data of shard 1."""

    def damage(path: Path) -> None:
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return damage


def item(change):
    return edited(lambda data: change(data["items"][0]))


def record(change):
    return item(lambda network: change(network["history"][0]))


def written(text: str | bytes):
    def damage(path: Path) -> None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return damage


def cut(fraction: float):
    def damage(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * fraction)])

    return damage


def renamed(name: str, shard: list[int]):
    def damage(path: Path) -> None:
        edited(lambda data: data.update(shard=shard))(path)
        path.rename(path.with_name(name))

    return damage


def replaced_by(make):
    def damage(path: Path) -> None:
        path.unlink()
        make(path)

    return damage


def sparse(size: int):
    def damage(path: Path) -> None:
        with path.open("r+b") as file:
            file.truncate(size)

    return damage


DEEP = 100_000
DAMAGES = {
    "empty": written(""),
    "cut in half": cut(0.5),
    "cut to one byte": cut(0.0001),
    "binary junk": written(os.urandom(4096)),
    "not UTF-8": written('{"format": "mnist-mlp shard", "kind": "trai\xf1"}'.encode("latin-1")),
    "a list": written("[1, 2, 3]"),
    "null": written("null"),
    "50 MB of one string": written('{"format": "' + "x" * 50_000_000 + '"}'),
    "a terabyte, sparse": sparse(1 << 40),
    "nested 100,000 deep": written("[" * DEEP + "]" * DEEP),
    "nested 40 deep": edited(lambda data: data.update(extra=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
        [[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])),
    "a number of 5000 digits": written('{"format": "mnist-mlp shard", "version": '
                                       + "9" * 5000 + "}"),
    "another format": edited(lambda data: data.update(format="something else")),
    "version as text": edited(lambda data: data.update(version="1")),
    "version true": edited(lambda data: data.update(version=True)),
    "a long unknown kind": edited(lambda data: data.update(kind="k" * 100_000)),
    "as a reproduction": edited(lambda data: data.update(kind="reproduction")),
    "kind a list": edited(lambda data: data.update(kind=["train"])),
    "shard of one number": edited(lambda data: data.update(shard=[1])),
    "shard as text": edited(lambda data: data.update(shard=["1", "2"])),
    "shard 0": edited(lambda data: data.update(shard=[0, 2])),
    "shard 3 of 2": edited(lambda data: data.update(shard=[3, 2])),
    "shard of true": edited(lambda data: data.update(shard=[True, 2])),
    "shard 1 of 10^12": renamed("shard-1-of-1000000000000.json", [1, 10**12]),
    "shard 2 named 1": edited(lambda data: data.update(shard=[2, 2])),
    "no grid": edited(lambda data: data.pop("grid")),
    "items not a list": edited(lambda data: data.update(items={"a": 1})),
    "an item not a dict": edited(lambda data: data["items"].append(7)),
    "an id of a number": item(lambda network: network.update(id=5)),
    "an id of 10,000 characters": item(lambda network: network.update(id="i" * 10_000)),
    "10^12 seeds": edited(lambda data: data["grid"].update(seeds=10**12)),
    "10^12 networks": edited(lambda data: data["grid"].update(lrs=[0.5] * 10**6,
                                                              seeds=list(range(10**6)))),
    "an unknown setting": edited(lambda data: data["grid"]["config"].update(colour="red")),
    "epochs as text": edited(lambda data: data["grid"]["config"].update(epochs="2")),
    "an infinite η": edited(lambda data: data["grid"].update(lrs=[float("inf"), 1.0])),
    "no learning rates": edited(lambda data: data["grid"].pop("lrs")),
    "a history cut short": item(lambda network: network["history"].pop()),
    "a loss as text": record(lambda epoch: epoch.update(train_loss="low")),
    "an unknown record entry": record(lambda epoch: epoch.update(mood="good")),
    "an epoch of NaN": record(lambda epoch: epoch.update(epoch=float("nan"))),
    "another architecture": item(lambda network: network["config"].update(hidden_size=9)),
    "a run folder of a number": item(lambda network: network.update(run_dir=3)),
    "metrics as a list": item(lambda network: network.update(metrics=[1, 2])),
    "a FIFO": replaced_by(os.mkfifo),
    "a folder": replaced_by(os.mkdir),
    "a device": replaced_by(lambda path: path.symlink_to("/dev/zero")),
}

BOTH = {"as a reproduction", "10^12 seeds", "10^12 networks", "an unknown setting",
        "epochs as text", "an infinite η", "no learning rates"}
"""Damages done to both files (else they are refused as of different sweeps)."""


@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
def test_a_damaged_shard_file_is_one_line_naming_it(shards, tmp_path, capsys, damage):
    folder = tmp_path / "shards"
    folder.mkdir()
    for name in (FIRST, "shard-2-of-2.json"):
        shutil.copy(shards / name, folder / name)
    for name in (FIRST, "shard-2-of-2.json") if damage in BOTH else (FIRST,):
        DAMAGES[damage](folder / name)
    assert merge_main([str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err[:2000]
    assert str(folder) in err and len(err) < 600, err[:2000]
    assert err.startswith("error: ")


def test_the_undamaged_shards_merge(shards, capsys):
    assert merge_main([str(shards)]) == 0
    assert "lr 0.5, seeds 0…1: 2 runs, 0 diverged" in capsys.readouterr().out
