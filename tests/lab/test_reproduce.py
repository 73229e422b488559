"""The reproduction of the textbook's figures: the stall rule, the evidence, the gradient check,
the pipeline end to end on tiny generated MNIST, and the script's errors."""

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import helpers
import pytest
import torch

from mnist_mlp import MLP
from mnist_mlp.data import DigitTensors, load_mnist
from mnist_mlp_lab.configurations import (
    CONFIGURATIONS,
    NAMES,
    QUICK,
    Settings,
    configuration,
    is_chapter_recipe,
    is_quadratic_at_stated_eta,
    quick_settings,
)
from mnist_mlp_lab.evidence import (
    saturation_evidence,
    softmax_bias_gradient_check,
    stalled_flags,
)
from mnist_mlp_lab.report import markdown, plot, save
from mnist_mlp_lab.reproduce import reproduce
from mnist_mlp_lab.results import ConfigurationResult, Reproduction, Run, load, mark_stalls

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEXTBOOK = {"l30-cross_entropy": "95.49", "l30-quadratic": "95.42",
            "l100-cross_entropy": "96.82", "l100-quadratic": "96.59"}


@pytest.fixture(scope="module")
def script(load_script):
    """scripts/reproduce.py as a module, to call its ``main`` in-process."""
    return load_script("reproduce")


@pytest.fixture(scope="module")
def tiny_settings(tiny_data, tmp_path_factory):
    return Settings(seeds=2, epochs=2, train_size=200, validation_size=50, data_dir=str(tiny_data),
                    device="cpu", log_dir=str(tmp_path_factory.mktemp("runs")))


@pytest.fixture(scope="module")
def reproduction(tiny_settings):
    lines = []
    result = reproduce(tiny_settings, report=lines.append, command="python scripts/reproduce.py")
    result.lines = lines
    return result


@pytest.fixture(scope="module")
def saved(reproduction, tmp_path_factory):
    return save(reproduction, tmp_path_factory.mktemp("out"))


def history(accuracies, loss=0.1):
    """A synthetic history: one record per epoch, the same test and validation accuracy."""
    return helpers.history(accuracies, accuracies, loss)


# --- the configurations -----------------------------------------------------------------------


def test_the_configurations_with_the_textbook_figures():
    """The chapter's four figures sit on Nielsen's sigmoid-output runs, the quadratic cost at his
    η = 3.0; beside them the quadratic cost at the η = 0.5 the chapter states for both costs, the
    softmax with the log-likelihood, and the chapter's recipe."""
    assert NAMES == ("l30-cross_entropy", "l30-quadratic", "l30-quadratic_eta0.5", "l30-softmax",
                     "l30-softmax_eq35", "l100-cross_entropy", "l100-quadratic",
                     "l100-quadratic_eta0.5", "l100-softmax", "l100-softmax_eq35")
    for c in CONFIGURATIONS:
        config = c.train_config(Settings())
        assert (config.activation, config.init, config.batch_size, config.epochs) == (
            "sigmoid", "normal", 10, 30)
        assert config.validation_size == 10_000 and config.train_size is None
        assert config.log_dir == f"runs/reproduction/{c.name}"
    assert configuration("l30-quadratic").loss == "mse"
    assert configuration("l30-quadratic").lr == 3.0
    for size in (30, 100):  # the same run but for η: the chapter's stated 0.5
        nielsen = configuration(f"l{size}-quadratic")
        stated = configuration(f"l{size}-quadratic_eta0.5")
        assert (stated.lr, stated.textbook) == (0.5, None)
        assert replace(stated, name=nielsen.name, lr=3.0, textbook=nielsen.textbook,
                       cost=nielsen.cost) == nielsen
        assert is_quadratic_at_stated_eta(stated) and not is_quadratic_at_stated_eta(nielsen)
    assert configuration("l100-cross_entropy").loss == "binary_cross_entropy"
    assert configuration("l100-cross_entropy").output_activation == "sigmoid"
    assert configuration("l30-softmax").loss == "log_likelihood"
    assert configuration("l30-softmax").textbook is None
    # the chapter's own recipe: softmax output, the cross-entropy (35) with both terms
    for name in ("l30-softmax_eq35", "l100-softmax_eq35"):
        recipe = configuration(name)
        assert (recipe.output_activation, recipe.loss, recipe.lr) == (
            "softmax", "binary_cross_entropy", 0.5)
        assert recipe.textbook is None and is_chapter_recipe(recipe)
    assert [c.name for c in CONFIGURATIONS if is_chapter_recipe(c)] == [
        "l30-softmax_eq35", "l100-softmax_eq35"]
    assert {c.name: f"{100 * c.textbook:.2f}" for c in CONFIGURATIONS if c.textbook} == TEXTBOOK


def test_settings_are_checked():
    with pytest.raises(ValueError, match="unknown configuration 'l50-x'"):
        Settings(only=("l50-x",)).validate()
    with pytest.raises(ValueError, match="seeds"):
        Settings(seeds=0).validate()
    with pytest.raises(ValueError, match="validation"):
        Settings(validation_size=0).validate()
    with pytest.raises(ValueError, match="engine"):
        Settings(engine="turbo").validate()
    assert [c.name for c in Settings(only=("l100-softmax", "l30-quadratic")).configurations()] \
        == ["l30-quadratic", "l100-softmax"]
    quick = quick_settings(seeds=3)
    assert (quick.seeds, quick.epochs, quick.train_size, quick.quick) == (
        3, QUICK["epochs"], QUICK["train_size"], True)


# --- the stall rule ---------------------------------------------------------------------------


def test_stall_rule_on_synthetic_histories():
    finals = [0.962, 0.955, 0.861, 0.958, 0.60]
    runs = [history([0.5, 0.9, f]) for f in finals]
    assert stalled_flags(runs) == [False, False, True, False, True]


def test_stall_rule_margin_is_strict_and_relative_to_the_best_run():
    runs = [history([0.90]), history([0.85]), history([0.8499])]
    assert stalled_flags(runs) == [False, False, True]
    assert stalled_flags(runs, margin=0.2) == [False, False, False]
    # the best-epoch reading does not rescue a run that ends low
    assert stalled_flags([history([0.95, 0.96]), history([0.95, 0.80])]) == [False, True]


def test_stall_rule_ignores_diverged_runs_and_holds_with_most_runs_stalled():
    nan = history([0.1, 0.1], loss=math.nan)
    assert stalled_flags([history([0.96]), nan, history([0.87])]) == [False, False, True]
    assert stalled_flags([nan, nan]) == [False, False]
    # a median rule would call none of these stalled; the best run is the reference
    many = [history([f]) for f in (0.87, 0.86, 0.88, 0.96, 0.87)]
    assert stalled_flags(many) == [True, True, True, False, True]


def test_a_lost_digit_stalls_a_run_even_where_every_run_lost_one():
    """No margin tells a configuration whose every run lost a digit: the lost digit does, and a
    run read back from a file is judged by today's rule, not by the flag the file holds."""
    recall = [0.9] * 10

    def run(seed, final, lost):
        evidence = {"recall": [0.0 if d == lost else r for d, r in enumerate(recall)]}
        return Run(seed, history([0.5, final]), evidence=evidence, stalled=False)

    result = ConfigurationResult(configuration("l100-quadratic_eta0.5"),
                                 [run(0, 0.86, 4), run(1, 0.865, 8), run(2, 0.75, 1)], 1.0)
    assert stalled_flags([r.history for r in result.runs]) == [False, False, True]
    mark_stalls(result, 0.05)
    assert [r.stalled for r in result.runs] == [True, True, True] and not result.healthy
    result.runs[0].evidence = {"recall": recall}  # no digit lost, and near the best
    mark_stalls(result, 0.05)
    assert [r.stalled for r in result.runs] == [False, True, True]


# --- the evidence -----------------------------------------------------------------------------


def random_digits(n=200, seed=0):
    """Dense random images with every digit equally often."""
    digits = helpers.random_digits(n, torch.float32, seed, zeros=0.0)
    return DigitTensors(digits.images, torch.arange(n) % 10)


def test_saturation_evidence_finds_an_output_stuck_at_zero():
    torch.manual_seed(0)
    model = MLP(20, "sigmoid", "sigmoid", "normal")
    with torch.no_grad():
        model.output.weight[3].zero_()
        model.output.bias[3] = -40.0  # F₃ = σ(−40) ≈ 4e−18 for every image
    ev = saturation_evidence(model, random_digits(), "mse")
    stuck = {u["unit"]: u for u in ev["stuck_outputs"]}
    assert 3 in stuck and stuck[3]["stuck_at"] == 0
    assert stuck[3]["wrong_images"] == 20  # the images of digit 3
    assert stuck[3]["mean_abs_error"] == pytest.approx(1.0)
    assert stuck[3]["mean_abs_delta"] < 1e-15  # quadratic: δ = (F − y)σ'(z) ≈ 0
    assert 3 in ev["never_predicted"] and ev["recall"][3] == 0.0
    assert ev["wrong_delta"]["stuck"]["mean_abs_delta"] < 1e-15
    assert 0 <= ev["saturated_hidden_fraction"] <= 1
    # with the cross-entropy the same stuck neuron has δ = F − y ≈ −1: it would learn
    ce = saturation_evidence(model, random_digits(), "binary_cross_entropy")
    unit = next(u for u in ce["stuck_outputs"] if u["unit"] == 3)
    assert unit["mean_abs_delta"] == pytest.approx(1.0)


def test_saturation_evidence_finds_stuck_hidden_units():
    torch.manual_seed(1)
    model = MLP(10, "sigmoid", "softmax", "normal")
    with torch.no_grad():
        model.hidden.weight[:4].zero_()
        model.hidden.bias[:2] = 30.0   # stuck at 1
        model.hidden.bias[2:4] = -30.0  # stuck at 0
    ev = saturation_evidence(model, random_digits(), "log_likelihood")
    assert ev["stuck_hidden"] >= 4
    assert ev["stuck_hidden_fraction"] == pytest.approx(ev["stuck_hidden"] / 10)


# --- the softmax gradient check ----------------------------------------------------------------


def test_softmax_bias_gradient_check_on_tiny_mnist(tiny_data):
    data = load_mnist(str(tiny_data), validation_size=50)
    check = softmax_bias_gradient_check(data.train.images, data.train.labels, batches=4)
    assert check["max_abs_difference"] < 1e-10
    assert check["max_abs_gradient"] > 0.1  # a real gradient, not zeros
    torch.manual_seed(3)
    trained_like = MLP(30, "sigmoid", "softmax", "normal")
    check = softmax_bias_gradient_check(data.train.images, data.train.labels, trained_like)
    assert check["max_abs_difference"] < 1e-10
    with pytest.raises(ValueError, match="softmax"):
        softmax_bias_gradient_check(data.train.images, data.train.labels,
                                    MLP(30, "sigmoid", "sigmoid"))


# --- the pipeline on tiny data ------------------------------------------------------------------


def test_every_configuration_trains_every_seed(reproduction, tiny_settings):
    assert [r.configuration.name for r in reproduction.results] == list(NAMES)
    for result in reproduction.results:
        assert [run.seed for run in result.runs] == [0, 1]
        for run in result.runs:
            assert len(run.history) == tiny_settings.epochs
            assert run.evidence is not None and len(run.evidence["recall"]) == 10
    assert any("l100-quadratic" in line and "epoch" in line for line in reproduction.lines)
    assert all(c["max_abs_difference"] < 1e-10 for c in reproduction.gradient_checks)
    assert len(reproduction.gradient_checks) == 2  # fresh and trained l = 30 softmax


def test_tensorboard_runs_per_configuration(reproduction, tiny_settings):
    root = Path(tiny_settings.log_dir)
    assert sorted(p.name for p in root.iterdir()) == sorted(NAMES)
    for name in NAMES:
        folders = list((root / name).iterdir())
        assert len(folders) == 2
        assert all(any(f.name.startswith("events.out.tfevents") for f in d.iterdir())
                   for d in folders)


def test_markdown_table(saved):
    text = saved["md"].read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `l")]
    table_rows = rows[:len(NAMES)]
    assert [row.split("`")[1] for row in table_rows] == list(NAMES)
    for row in table_rows:
        name = row.split("`")[1]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[3] == TEXTBOOK.get(name, "—")
        assert all("±" in cell for cell in cells[4:7])
        assert cells[8].endswith("of 2")
    assert "Stalled runs" in text and "percentage points below the best" in text
    assert "Softmax gradient check" in text
    assert "python scripts/reproduce.py" in text and "Total wall time" in text
    assert "torch" in text and "](reproduction.png)" in text


def test_json_has_everything(saved, tiny_settings):
    data = json.loads(saved["json"].read_text())
    assert {"command", "machine", "settings", "stall_rule", "wall_seconds",
            "softmax_bias_gradient_check", "configurations"} <= set(data)
    assert data["settings"]["train_images"] == 200
    assert data["machine"]["torch"] == torch.__version__
    assert [c["configuration"]["name"] for c in data["configurations"]] == list(NAMES)
    for c in data["configurations"]:
        assert set(c["summary"]) >= {"runs", "diverged", "final", "best", "validated"}
        assert c["summary"]["runs"] == 2
        assert set(c["summary"]["best"]) == {"mean", "std", "min", "max", "n"}
        assert set(c["textbook_within_min_max"]) == {"final", "best", "validated"}
        assert (c["configuration"]["textbook"] is None) == (
            c["textbook_within_min_max"]["best"] is None)
        assert set(c["evidence"]) == {"healthy", "stalled"}
        assert c["stalled"] == sum(run["stalled"] for run in c["runs"])
        for run in c["runs"]:
            assert len(run["history"]) == tiny_settings.epochs
            first, last = run["history"][0], run["history"][-1]
            assert set(first) >= {"epoch", "minibatch_loss", "validation_accuracy",
                                  "test_accuracy", "seconds"}
            # the training set is evaluated after the last epoch only: nothing reads it before
            assert "train_loss" not in first and {"train_loss", "train_accuracy"} <= set(last)
            assert run["best_accuracy"] >= run["final_accuracy"]
            assert run["best_accuracy"] >= run["validated_accuracy"]
            assert len(run["metrics"]["recall"]) == 10


def test_json_reads_back_into_the_same_report(saved, reproduction, tmp_path):
    loaded = load(saved["json"])
    assert markdown(loaded) == markdown(reproduction)
    again = save(loaded, tmp_path)
    assert json.loads(again["json"].read_text()) == json.loads(saved["json"].read_text())
    bad = tmp_path / "bad.json"
    bad.write_text('{"settings": {}}')
    with pytest.raises(ValueError, match=r"not a reproduction\.json"):
        load(bad)


def test_script_renders_again_from_json(script, saved, tmp_path, capsys):
    code = script.main(["--from-json", str(saved["json"]), "--out", str(tmp_path)])
    assert code == 0
    assert (tmp_path / "reproduction.md").read_text() == saved["md"].read_text()
    assert (tmp_path / "reproduction.png").read_bytes().startswith(PNG_MAGIC)
    assert "| `l100-quadratic` |" in capsys.readouterr().out
    code = script.main(["--from-json", str(tmp_path / "missing.json"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: cannot read") and err.count("\n") == 1


def test_png_is_written(saved):
    content = saved["png"].read_bytes()
    assert content.startswith(PNG_MAGIC) and len(content) > 10_000
    assert not list(saved["png"].parent.glob(".*.tmp"))  # atomic: no leftovers


def test_reference_engine_gives_the_same_structure(tiny_data):
    settings = Settings(seeds=1, epochs=1, train_size=100, validation_size=50,
                        data_dir=str(tiny_data), device="cpu", log_dir=None, engine="reference",
                        only=("l30-softmax",))
    result = reproduce(settings)
    assert [r.configuration.name for r in result.results] == ["l30-softmax"]
    run = result.results[0].runs[0]
    assert len(run.history) == 1 and run.run_dir is None and run.evidence is not None


# --- stalled runs in the report, synthetic ------------------------------------------------------


def synthetic_reproduction(stalled_final=0.80):
    conf = configuration("l100-quadratic")
    evidence = {"images": 100, "accuracy": 0.9,
                "stuck_outputs": [], "stuck_hidden": 0, "stuck_hidden_fraction": 0.0,
                "saturated_hidden_fraction": 0.5, "recall": [0.9] * 10, "never_predicted": [],
                "wrong_delta": {"stuck": {"pairs": 0, "mean_abs_delta": None},
                                "other": {"pairs": 10, "mean_abs_delta": 0.1}}}
    stuck_evidence = evidence | {
        "stuck_outputs": [{"unit": 7, "stuck_at": 0, "wrong_images": 10,
                           "mean_abs_error": 0.99, "mean_abs_delta": 2e-5}],
        "recall": [0.9] * 7 + [0.0] + [0.9] * 2, "never_predicted": [7],
        "wrong_delta": {"stuck": {"pairs": 10, "mean_abs_delta": 2e-5},
                        "other": {"pairs": 10, "mean_abs_delta": 0.1}}}
    finals = [0.965, 0.962, stalled_final, 0.967]
    histories = [history([0.9, 0.95, f]) for f in finals]
    flags = stalled_flags(histories)
    runs = [Run(seed, h, evidence=stuck_evidence if stalled else evidence, stalled=stalled)
            for seed, (h, stalled) in enumerate(zip(histories, flags, strict=True))]
    settings = Settings(seeds=4, epochs=3, only=(conf.name,))
    return Reproduction(settings, [ConfigurationResult(conf, runs, 1.0)],
                        machine={"cpu": "test", "torch": torch.__version__},
                        command="python scripts/reproduce.py --only l100-quadratic")


def test_stalled_runs_are_counted_and_explained():
    text = markdown(synthetic_reproduction())
    row = next(line for line in text.splitlines() if line.startswith("| `l100-quadratic`"))
    assert row.rstrip().endswith("| 1 of 4 |")
    assert "80.00" in row  # the stalled run is in the spread, not hidden
    assert "1 of 4 runs stalled" in text and "seed 2" in text
    assert "1.0 lost digits per network (recall < 5 %; digits 7 across" in text
    assert "in 1 of 1 the stuck neurons are exactly the lost digits" in text
    assert "σ'(z)" in text and "2.0e-05" in text
    assert "| 3 healthy |" in text and "| 1 stalled |" in text
    assert "Without its stalled runs" in text
    assert "Late escapes" not in text


def test_a_network_with_nan_weights_is_counted_not_averaged_in(tmp_path):
    """A run whose last record says it diverged (NaN weights; its losses finite, its accuracy
    that of chance) is counted in the table and left out of its spreads, also once read back
    from the JSON."""
    reproduction = synthetic_reproduction()
    wrecked = history([0.9, 0.95, 0.098])
    wrecked[-1] = replace(wrecked[-1], diverged=True)
    reproduction.results[0].runs.append(Run(4, wrecked))
    again = load(save(reproduction, tmp_path)["json"])
    for report in (reproduction, again):
        row = next(line for line in markdown(report).splitlines()
                   if line.startswith("| `l100-quadratic`"))
        assert row.rstrip().endswith("| 1 of 5 (+1 diverged) |")
        assert "9.80" not in row and "80.00–96.70" in row


def test_late_escapes_are_healthy_runs_long_below_the_stall_line():
    conf = configuration("l30-quadratic")
    histories = [history([0.90] * 8), history([0.85] * 6 + [0.95] * 2),
                 history([0.85] + [0.95] * 7), history([0.95] * 8)]
    runs = [Run(seed, h, stalled=flag) for seed, (h, flag)
            in enumerate(zip(histories, stalled_flags(histories), strict=True))]
    result = ConfigurationResult(conf, runs, 1.0)
    assert result.stall_line() == pytest.approx(0.90)
    assert [r.seed for r in result.stalled] == []
    # seed 1 sat below 0.90 until epoch 6 (≥ 8 // 4 = 2): a late escape; seed 2 only epoch 1
    assert [(r.seed, epoch) for r, epoch in result.late_escapes()] == [(1, 6)]
    settings = Settings(seeds=4, epochs=8, only=(conf.name,))
    text = markdown(Reproduction(settings, [result], machine={"cpu": "test"}))
    assert "Late escapes" in text and "seed 1 (below the line until epoch 6" in text
    assert "None of the 4 runs stalled" in text


def test_no_stall_is_said_and_plot_draws_stalled_runs_apart():
    assert "None of the 4 runs stalled" in markdown(synthetic_reproduction(stalled_final=0.96))
    fig = plot(synthetic_reproduction())
    labels = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert any("stalled" in label and "seed 2" in label for label in labels)
    assert any(label.startswith("textbook 96.59") for label in labels)


# --- the script ---------------------------------------------------------------------------------


def test_script_missing_data_is_a_one_line_error(script, tmp_path, capsys):
    code = script.main(["--quick", "--data-dir", str(tmp_path / "nothing"), "--out",
                        str(tmp_path / "out"), "--log-dir", ""])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert not list((tmp_path / "out").glob("reproduction*"))


def test_script_unwritable_out_is_a_one_line_error(script, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = script.main(["--quick", "--data-dir", str(tmp_path), "--out", str(blocker / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: cannot write") and err.count("\n") == 1
    assert str(blocker) in err and "--out" in err


def test_script_outlives_a_closed_output(script, saved, tmp_path, monkeypatch):
    """Printing into a pipe whose reader has gone (``… | head``): the command still runs to its
    end and writes its report."""

    class Gone:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            raise OSError("no descriptor")

        def isatty(self):
            return False

    monkeypatch.setattr(sys, "stdout", Gone())
    code = script.main(["--from-json", str(saved["json"]), "--out", str(tmp_path)])
    assert code == 0
    assert (tmp_path / "reproduction.md").read_text() == saved["md"].read_text()


def test_stall_sentences_follow_from_the_evidence():
    """The sentence on stuck outputs counts them per network (a range) and sorts their digits
    into never predicted and predicted-but-lost, from the evidence of each run."""
    conf = configuration("l100-quadratic")
    healthy = {"images": 100, "accuracy": 0.96, "stuck_outputs": [], "stuck_hidden": 0,
               "stuck_hidden_fraction": 0.0, "saturated_hidden_fraction": 0.5,
               "recall": [0.96] * 10, "never_predicted": [],
               "wrong_delta": {"stuck": {"pairs": 0, "mean_abs_delta": None},
                               "other": {"pairs": 10, "mean_abs_delta": 0.1}}}

    def stuck(units, never, recall):
        return healthy | {
            "stuck_outputs": [{"unit": u, "stuck_at": 0, "wrong_images": 10,
                               "mean_abs_error": 1.0, "mean_abs_delta": 1e-6} for u in units],
            "recall": recall, "never_predicted": never,
            "wrong_delta": {"stuck": {"pairs": 10 * len(units), "mean_abs_delta": 1e-6},
                            "other": {"pairs": 10, "mean_abs_delta": 0.1}}}

    lost_three = [0.96] * 10
    lost_three[1], lost_three[3], lost_three[8] = 0.003, 0.011, 0.0
    evidence = [healthy, stuck([4], [4], [0.96] * 4 + [0.0] + [0.96] * 5),
                stuck([1, 3, 8], [], lost_three)]
    histories = [history([0.9, 0.96]), history([0.9, 0.86]), history([0.9, 0.67])]
    runs = [Run(seed, h, evidence=e, stalled=seed > 0)
            for seed, (h, e) in enumerate(zip(histories, evidence, strict=True))]
    reproduction = Reproduction(Settings(seeds=3, epochs=2, only=(conf.name,)),
                                [ConfigurationResult(conf, runs, 1.0)], machine={"cpu": "test"})
    text = markdown(reproduction)
    expected = ("each of the 2 stalled networks has 1 to 3 output neurons stuck (4 in all, 4 at 0 "
                "and 0 at 1")
    assert text.count(expected) == 2  # in the summary and in the evidence paragraph
    assert ("of their digits, 1 the network never predicts and 3 it predicts now and then but "
            "recognises on fewer than 5 % of their test images") in text
    assert "in 2 of 2 the stuck neurons are exactly the lost digits" in text
    summary = next(line for line in text.splitlines() if line.startswith("**In short.**"))
    assert "2 of the 3 `l100-quadratic` runs stall" in summary
    assert "Without them `l100-quadratic` reads" in summary and "(1 run)" in summary
    assert "0 of 1 figures of the chapter lie within our [min, max]" in summary  # 96.59 > 96


def test_the_quadratic_cost_at_the_stated_eta_is_set_beside_its_figures():
    """The summary gives the quadratic cost's readings at the chapter's stated η = 0.5, stalled
    runs counted, and says whose η made its figures; without such runs it says nothing of it."""
    stated, nielsen = configuration("l30-quadratic_eta0.5"), configuration("l30-quadratic")
    runs = [Run(0, history([0.5, 0.92])), Run(1, history([0.5, 0.80]), stalled=True)]
    both = [ConfigurationResult(nielsen, [Run(0, history([0.9, 0.95]))], 1.0),
            ConfigurationResult(stated, runs, 1.0)]
    text = markdown(Reproduction(Settings(seeds=2, epochs=2, only=(nielsen.name, stated.name)),
                                 both, machine={"cpu": "test"}))
    summary = next(line for line in text.splitlines() if line.startswith("**In short.**"))
    assert ("At the η the chapter states for both costs, 0.5, the quadratic cost scores "
            "`l30-quadratic_eta0.5` 86.00 ± 8.49 (80.00–92.00) % at the final epoch") in summary
    assert "(1 of 2 stalled)" in summary and "measured at Nielsen's η = 3.0." in summary
    alone = markdown(Reproduction(Settings(seeds=1, epochs=2, only=(nielsen.name,)), both[:1],
                                  machine={"cpu": "test"}))
    assert "the chapter states for both costs" not in alone


def test_the_report_says_which_splits_were_evaluated_after_every_epoch(reproduction):
    """The protocol line is read off the records: this reproduction's hold the training set's
    loss after the last epoch only; records with it after every epoch (an older run's) say so."""
    assert "the training set after the last one" in markdown(reproduction)
    every = replace(reproduction, results=[replace(result, runs=[
        replace(run, history=[replace(r, train_loss=0.5, train_accuracy=0.9)
                              for r in run.history]) for run in result.runs])
        for result in reproduction.results])
    text = markdown(every)
    assert "every split evaluated after every epoch" in text and "after the last one" not in text
