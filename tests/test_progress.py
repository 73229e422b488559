"""Progress bars: shown only when asked for and on a terminal; the epoch lines always."""

import io
from dataclasses import replace

import torch
from helpers import record

from mnist_mlp.cli.progress import ProgressBars, SweepBar, bars_wanted
from mnist_mlp.cli.tables import epoch_line, epoch_of_many_line
from mnist_mlp.training import StepInfo

RECORD = record(2, 0.9, loss=0.5)


def run_epochs(bars, first_epoch=1, epochs=2, steps=120):
    for epoch in range(first_epoch, first_epoch + epochs):
        for step in range(1, steps + 1):
            bars.step(StepInfo(epoch, step, steps, torch.tensor(0.25)))
        bars.epoch(replace(RECORD, epoch=epoch))
    bars.close()


def test_bars_show_epochs_steps_and_running_loss(capsys):
    screen = io.StringIO()
    run_epochs(ProgressBars(5, epoch_line, enabled=True, file=screen), first_epoch=3, epochs=3)
    bars = screen.getvalue()
    assert "training" in bars and "5/5" in bars  # a resumed run starts at epoch 3 of 5
    assert "epoch 3" in bars and "120/120" in bars and "mini-batch loss 0.2500" in bars
    out = capsys.readouterr().out
    assert out.splitlines() == [epoch_line(replace(RECORD, epoch=epoch)) for epoch in (3, 4, 5)]


def test_no_bars_when_disabled(capsys):
    screen = io.StringIO()
    run_epochs(ProgressBars(2, epoch_line, enabled=False, file=screen))
    assert screen.getvalue() == ""
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_bars_only_on_a_terminal_and_not_quiet():
    assert not bars_wanted(quiet=True)
    assert not bars_wanted(quiet=False)  # pytest captures stdout: not a terminal


def test_a_sweep_has_one_bar_over_network_epochs(capsys):
    screen = io.StringIO()
    with SweepBar(3, 4, lambda epoch, records: f"epoch {epoch}: {len(records)} networks",
                  enabled=True, file=screen) as bar:
        for epoch in (1, 2, 3):
            bar.epoch(epoch, [replace(RECORD, epoch=epoch)] * 4)
    assert "4 networks" in screen.getvalue() and "12/12" in screen.getvalue()
    assert capsys.readouterr().out.splitlines() == [f"epoch {e}: 4 networks" for e in (1, 2, 3)]


def test_a_sweep_without_a_terminal_prints_only_its_lines(capsys):
    with SweepBar(2, 3, lambda epoch, records: f"epoch {epoch}", enabled=False) as bar:
        bar.epoch(1, [RECORD] * 3)
    assert capsys.readouterr() == ("epoch 1\n", "")


def test_a_sweep_of_several_learning_rates_shows_one_spread_for_each():
    """Mixed together, the networks of η 0.5 and η 3 would show one wide spread that belongs to
    neither; each η gets its own (and a diverged network is counted, not averaged in)."""
    records = [record(1, test=a) for a in (0.95, 0.93, 0.60, 0.62)]
    records[3] = replace(records[3], diverged=True)
    line = epoch_of_many_line(1, records, lrs=[0.5, 0.5, 3.0, 3.0])
    assert "4 networks, 1 diverged" in line
    assert "test η 0.5 94.00 ± 1.41 % (93.00–95.00, n = 2), η 3 60.00 % (n = 1)" in line
    assert "test 94.00 ± 1.41 %" in epoch_of_many_line(1, records[:2], lrs=[0.5, 0.5])
