"""Bad input through the command lines: one line that says what to do, exit status 2, no
traceback, and nothing already written lost."""

import importlib
import pickle
import re
from dataclasses import replace

import pytest
import torch
from idx import FILE_NAMES, write_idx, write_idx_mnist

from mnist_mlp import TrainConfig, train
from mnist_mlp.cli.evaluate import main as evaluate_main
from mnist_mlp.cli.predict import main as predict_main
from mnist_mlp.cli.train import main as train_main
from mnist_mlp.errors import ConfigError
from mnist_mlp.training.checkpoints import BEST, LAST, load_checkpoint, save_checkpoint

UNPICKLED = []


def note_unpickled(what):
    """Called only if a tampered checkpoint's object were ever built."""
    UNPICKLED.append(what)


class Payload:
    """An object whose unpickling would run code: what ``weights_only=True`` must refuse."""

    def __reduce__(self):
        return note_unpickled, ("a tampered checkpoint was unpickled",)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def tiny_args(data_dir, log_dir, *more):
    return ["--hidden", "8", "--epochs", "1", "--device", "cpu", "--data-dir", str(data_dir),
            "--validation-size", "20", "--log-dir", str(log_dir), *more]


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    """A finished two-epoch run with a validation set: last.pt and best.pt."""
    return train(TrainConfig(hidden_size=16, epochs=2, device="cpu", data_dir=str(tiny_data),
                             validation_size=20, log_dir=str(tmp_path_factory.mktemp("runs"))))


# ---------------------------------------------------------------------------------------------
# MNIST files


def broken_data(root, problem):
    """Tiny MNIST under ``root`` with one problem: a missing, mis-headed or truncated file."""
    data = write_idx_mnist(root, n_train=40, n_test=20)
    images = data.raw_folder / FILE_NAMES["train", "images"]
    if problem == "all missing":
        for name in FILE_NAMES.values():
            (data.raw_folder / name).unlink()
    elif problem == "train labels missing":
        (data.raw_folder / FILE_NAMES["train", "labels"]).unlink()
    elif problem == "test images missing":
        (data.raw_folder / FILE_NAMES["test", "images"]).unlink()
    elif problem == "wrong magic":
        write_idx(images, data.train_images, magic=1234)
    elif problem == "truncated":
        write_idx(images, data.train_images, truncate=100)
    return root


@pytest.mark.parametrize(("problem", "words"), [
    ("all missing", "not found"), ("train labels missing", "train-labels-idx1-ubyte"),
    ("test images missing", "t10k-images-idx3-ubyte"), ("wrong magic", "magic number 1234"),
    ("truncated", "truncated"),
])
def test_missing_partial_and_corrupt_mnist(tmp_path, capsys, problem, words):
    root = broken_data(tmp_path / "data", problem)
    assert train_main(tiny_args(root, tmp_path / "runs")) == 2
    err = one_line_error(capsys)
    assert words in err and "--data-dir" in err
    assert not (tmp_path / "runs").exists()  # no run folder, not even the log folder, left


def test_evaluate_without_data(run, tmp_path, capsys):
    assert evaluate_main([str(run.run_dir), "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert "MNIST not found" in one_line_error(capsys)


# ---------------------------------------------------------------------------------------------
# Log folder


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_unwritable_log_dir_is_refused_before_any_data_is_loaded(tiny_data, tmp_path, capsys,
                                                                monkeypatch, engine):
    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before the log folder was checked")

    monkeypatch.setattr(importlib.import_module("mnist_mlp.training.driver"), "load_mnist",
                        no_loading)  # the one driver of both engines
    (tmp_path / "a_file").write_text("not a folder")
    code = train_main(tiny_args(tiny_data, tmp_path / "a_file" / "runs", "--engine", engine))
    assert code == 2
    err = one_line_error(capsys)
    assert "a_file" in err and "--log-dir" in err


# ---------------------------------------------------------------------------------------------
# Hyperparameters and names


@pytest.mark.parametrize("argv", [
    ["--lr", "0"], ["--lr", "-0.5"], ["--lr", "nan"], ["--lr", "inf"], ["--hidden", "0"],
    ["--hidden", "-3"], ["--batch-size", "0"], ["--epochs", "0"], ["--train-size", "0"],
    ["--validation-size", "-1"], ["--seeds", "0"], ["--activation", "swish"],
    ["--loss", "hinge"], ["--init", "xavier"], ["--engine", "turbo"], ["--hidden", "ten"],
    ["--no-such-option"],
])
def test_impossible_values_and_unknown_names_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main(argv)
    assert exit_info.value.code == 2
    assert "error:" in one_line_error(capsys)


@pytest.mark.parametrize(("more", "words"), [
    (["--batch-size", "500"], "batch_size 500 is larger than the 280 training images"),
    (["--batch-size", "50", "--train-size", "30"], "batch_size 50 is larger than the 30"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--device", "meta"], "unknown device 'meta'"),
    (["--device", "xla"], "unknown device 'xla'"),
    (["--train-size", "1000"], "train_size=1000 is more than"),
    (["--lr", "1e39"], "no larger than 3.4e+38 (the largest float32), got 1e+39"),
    (["--seed", str(2**64)], "seed must lie between 0 and 2**64 − 1"),
    (["--seed", str(2**64 - 1), "--seeds", "2", "--engine", "fast"],
     "seed must lie between 0 and 2**64 − 1"),
    (["--hidden", "1000000000"], "hidden_size 1000000000 needs about 9.54 TB"),
    (["--hidden", "10000000", "--engine", "fast", "--seeds", "100"], "of 100 networks"),
    (["--lr", "0.5", "0.5"], "lr lists a learning rate twice"),  # two networks, one and the same
    (["--seeds", "100000000", "--engine", "fast"], "100,000,000 networks (1 η × 100,000,000 "
     "seeds) are more than one sweep holds"),  # refused before 10⁸ configurations are listed
])
def test_impossible_combinations_are_one_line(tiny_data, tmp_path, capsys, more, words):
    assert train_main(tiny_args(tiny_data, tmp_path / "runs", *more)) == 2
    assert words in one_line_error(capsys)


def test_impossible_settings_in_python():
    for change in ({"batch_size": 500, "train_size": 100}, {"activation": "swish"},
                   {"lr": -1.0}, {"epochs": 0}):
        with pytest.raises(ValueError):
            replace(TrainConfig(), **change).validate()


@pytest.mark.parametrize(("change", "words"), [
    ({"lr": "0.5"}, "lr must be int or float (or a tuple of them), got '0.5'"),
    ({"lr": (0.5, "1")}, "lr must be int or float (or a tuple of them), got '1'"),
    ({"lr": ()}, "lr must be int or float (or a tuple of them), got ()"),
    ({"seeds": 2.0}, "seeds must be int, got 2.0"),
    ({"epochs": 1.5}, "epochs must be int, got 1.5"),
    ({"hidden_size": True}, "hidden_size must be int, got True"),
    ({"data_dir": 7}, "data_dir must be str or None, got 7"),
    ({"train_size": "all"}, "train_size must be int or None"),
])
def test_settings_of_the_wrong_type_are_refused_before_any_data_is_loaded(change, words,
                                                                          monkeypatch):
    monkeypatch.setattr("mnist_mlp.training.driver.load_mnist", None)  # never reached
    with pytest.raises(ConfigError, match=re.escape(words)):
        train(replace(TrainConfig(log_dir=None), **change))


def test_weights_beyond_tensorboards_bins_still_get_a_histogram(tiny_data, tmp_path):
    """η = 1e30 saturates every unit; its weights (~1e30) lie beyond TensorBoard's fixed bins,
    whose histogram would fail: the run ends as it should, with its logs."""
    result = train(TrainConfig(hidden_size=8, epochs=2, lr=1e30, device="cpu",
                               data_dir=str(tiny_data), validation_size=20,
                               log_dir=str(tmp_path)))
    assert len(result.history) == 2 and (result.run_dir / LAST).exists()
    assert float(result.model.hidden.weight.detach().abs().max()) > 1e20


# ---------------------------------------------------------------------------------------------
# Checkpoints


def checkpoint_of_another_shape(run, path):
    """A checkpoint whose weights are l = 16 but whose network claims l = 8."""
    checkpoint = load_checkpoint(run.run_dir / LAST)
    checkpoint.model_config = checkpoint.model_config | {"hidden_size": 8}
    return save_checkpoint(checkpoint, path)


def checkpoint_of_another_network(run, path):
    """A checkpoint holding the weights of some other network."""
    checkpoint = load_checkpoint(run.run_dir / LAST)
    checkpoint.model_state = {"conv.weight": torch.zeros(4, 1, 3, 3), "conv.bias": torch.zeros(4)}
    return save_checkpoint(checkpoint, path)


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_checkpoint_of_another_architecture(run, tiny_data, tmp_path, capsys, image, command):
    for make, held in ((checkpoint_of_another_shape, "784-16-10"),
                       (checkpoint_of_another_network, "another network (parameters conv.")):
        path = make(run, tmp_path / "other.pt")
        if command == "evaluate":
            code = evaluate_main([str(path), "--data-dir", str(tiny_data)])
        else:
            code = predict_main([str(path), str(image)])
        assert code == 2
        err = one_line_error(capsys)  # refused as it is read, before a network is built
        claimed = "784-8-10" if make is checkpoint_of_another_shape else "784-16-10"
        assert held in err and f"not those of the {claimed} network it claims" in err


def test_resume_with_another_architecture_names_both(run, capsys):
    assert train_main(["--resume", str(run.run_dir), "--epochs", "3", "--hidden", "8"]) == 2
    err = one_line_error(capsys)
    assert "784-16-10 (sigmoid hidden, softmax output)" in err
    assert "784-8-10 (sigmoid hidden, softmax output)" in err


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_tampered_checkpoint_is_refused_and_never_unpickled(run, tiny_data, tmp_path, capsys,
                                                            image, how):
    path = tmp_path / "last.pt"
    if how == "torch.save":
        torch.save({"format": "mnist-mlp checkpoint", "x": Payload()}, path)
    else:
        path.write_bytes(pickle.dumps(Payload()))
    for argv_main in ((evaluate_main, [str(path), "--data-dir", str(tiny_data)]),
                      (predict_main, [str(path), str(image)]),
                      (train_main, ["--resume", str(path), "--epochs", "5"])):
        main, argv = argv_main
        assert main(argv) == 2
        err = one_line_error(capsys)
        assert "not a valid mnist-mlp checkpoint" in err
        assert "never loaded" in err or "nothing in it was loaded" in err
    assert UNPICKLED == []


@pytest.mark.parametrize(("content", "words"), [
    (b"\x00\x17 random bytes \xff" * 50, "not a file written by torch.save"),
    (b"", "not a file written by torch.save"),
    ("tensors", "no 'mnist-mlp checkpoint' marker"),
])
def test_files_that_are_not_checkpoints(tiny_data, tmp_path, capsys, image, content, words):
    path = tmp_path / "model.pt"
    if content == "tensors":
        torch.save({"weight": torch.zeros(3)}, path)
    else:
        path.write_bytes(content)
    assert evaluate_main([str(path), "--data-dir", str(tiny_data)]) == 2
    assert words in one_line_error(capsys)
    assert predict_main([str(path), str(image)]) == 2
    assert words in one_line_error(capsys)


def test_missing_checkpoints(tmp_path, capsys, image):
    assert evaluate_main([str(tmp_path / "nothing.pt")]) == 2
    assert "no checkpoint at" in one_line_error(capsys)
    assert predict_main([str(tmp_path), str(image)]) == 2  # a folder without checkpoints
    assert "no checkpoint in" in one_line_error(capsys)
    assert train_main(["--resume", str(tmp_path / "runs" / "gone")]) == 2
    assert "no checkpoint at" in one_line_error(capsys)


def edited_checkpoint(run, path, edit):
    """The run's last.pt, loaded with torch (as an attacker could), edited, saved again."""
    data = torch.load(run.run_dir / LAST, weights_only=True)
    edit(data)
    torch.save(data, path)
    return path


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: d["model"]["config"].update(hidden_size=10**12),
     "its weights (784-16-10) are not those of the 784-1000000000000-10 network it claims"),
    (lambda d: d["model"]["config"].update(hidden_size="16"), "its hidden_size '16' is not"),
    (lambda d: d["model"]["config"].update(activation="os.system"), "its activation"),
    (lambda d: d["optimizer"].update(lr="0.5"), "its learning rate '0.5' is not a positive"),
    (lambda d: d["history"][0].update(test_accuracy="high"), "its history is malformed"),
    (lambda d: d["history"].append({"epoch": 3}), "does not match its history of 3 epochs"),
    (lambda d: d["rng"].update(torch=torch.zeros(3)), "RNG states are not byte tensors"),
    (lambda d: d["config"].update(lr="0.5"), "holds an impossible setting: lr must be"),
    (lambda d: d["config"].update(seeds=3), "holds the settings of 3 networks, not of the one"),
    (lambda d: d["config"].update(loss="nonsense"), "its loss 'nonsense' is not one of"),
    (lambda d: d["config"].update(loss=None), "its loss None is not one of"),
    (lambda d: d["model"]["state"].update({"hidden.weight": d["model"]["state"][
        "hidden.weight"].to_sparse()}), "are not those of the 784-16-10 network it claims"),
    (lambda d: d["model"]["state"].update({"output.bias": d["model"]["state"][
        "output.bias"].to("meta")}), "are not those of the 784-16-10 network it claims"),
])
def test_an_edited_checkpoint_is_refused_before_anything_is_built(run, tmp_path, capsys, image,
                                                                 edit, words):
    path = edited_checkpoint(run, tmp_path / "last.pt", edit)
    commands = [(train_main, ["--resume", str(path)])]
    if not words.startswith("holds"):  # the training settings matter only to resume
        commands += [(predict_main, [str(path), str(image)]), (evaluate_main, [str(path)])]
    for main, argv in commands:
        assert main(argv) == 2
        assert words in one_line_error(capsys)


def test_a_cut_short_last_pt_names_the_intact_best_pt(run, tmp_path, capsys, image):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / BEST).write_bytes((run.run_dir / BEST).read_bytes())
    (folder / LAST).write_bytes((run.run_dir / LAST).read_bytes()[:-700])  # end cut off
    assert train_main(["--resume", str(folder)]) == 2
    err = one_line_error(capsys)
    assert "cut short or damaged" in err and f"{folder / BEST} (epoch" in err
    assert "is intact: give that one" in err


def test_a_legacy_torch_file_is_called_so(tmp_path, capsys, image):
    path = tmp_path / "old.pt"
    torch.save({"format": "mnist-mlp checkpoint", "x": Payload()}, path,
               _use_new_zipfile_serialization=False)
    assert predict_main([str(path), str(image)]) == 2
    err = one_line_error(capsys)
    assert "torch.save's legacy format" in err and "not a file written by torch.save" not in err
    assert UNPICKLED == []


def test_resume_refuses_another_log_dir(run, tmp_path, capsys):
    assert train_main(["--resume", str(run.run_dir), "--epochs", "3",
                       "--log-dir", str(tmp_path / "elsewhere")]) == 2
    err = one_line_error(capsys)
    assert "cannot change settings of the run" in err and "log_dir" in err
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("more", [["--engine", "fast"], ["--seeds", "2"], ["--lr", "0.1", "1"]])
def test_resume_is_for_one_reference_run(run, capsys, more):
    assert train_main(["--resume", str(run.run_dir), "--epochs", "3", *more]) == 2
    assert "--resume continues one run with the reference loop" in one_line_error(capsys)


# ---------------------------------------------------------------------------------------------
# Divergence


WRECKED = float("nan")
"""A learning rate that wrecks the weights at the first step on any machine. An extreme η such
as 1e30 does it too on this build machine (inf − inf in a product), but elsewhere (torch 2.11 on
an Intel Xeon, seen) the weights can stay finite, huge, with every sigmoid saturated: no NaN."""


def test_divergence_is_one_line(tiny_data, tmp_path, capsys, on_sgd_step):
    on_sgd_step(lambda step, lr: WRECKED)
    code = train_main(tiny_args(tiny_data, tmp_path / "runs", "--lr", "1e30", "--activation",
                                "relu", "--loss", "mse", "--output-activation", "sigmoid"))
    assert code == 2
    err = one_line_error(capsys)
    assert "diverged" in err and "smaller --lr" in err


def test_divergence_keeps_the_last_good_checkpoint(tiny_data, tmp_path, capsys, on_sgd_step):
    on_sgd_step(lambda step, lr: lr if step <= 28 else WRECKED)  # in epoch 2 (28 steps)
    argv = tiny_args(tiny_data, tmp_path / "runs", "--epochs", "3", "--activation", "relu",
                     "--loss", "mse", "--output-activation", "sigmoid")
    assert train_main(argv) == 2
    err = one_line_error(capsys)
    assert "in epoch 2" in err and "the last good checkpoint is" in err
    run_dir = next((tmp_path / "runs").iterdir())
    assert str(run_dir / LAST) in err
    kept = load_checkpoint(run_dir / LAST)
    assert kept.epoch == 1
    assert all(bool(value.isfinite().all()) for value in kept.model_state.values())
    assert sorted(p.name for p in run_dir.glob("*.pt*")) == ["best.pt", "last.pt"]


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """``mnist-mlp-… | head``: what cannot be printed is dropped quietly, and the command goes on
    to its end (here: a second print, and its own exit status)."""
    import subprocess
    import sys
    program = ("from mnist_mlp.cli.common import one_line_errors\n"
               "main = one_line_errors(lambda argv: print('0123456789' * 10**6)\n"
               "                       or print('more') or 3)\n"
               "raise SystemExit(main())\n")
    pipeline = f'set -o pipefail; {sys.executable} -c "$0" | head -c 5'
    result = subprocess.run(["bash", "-c", pipeline, program], capture_output=True, text=True,
                            check=False)
    assert result.stdout == "01234"
    assert result.stderr == "" and result.returncode == 3
