"""A spectrum-input model's figures are drawn over frequency, and the time-only ones are skipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

from sigattn.cli import app
from sigattn.config import load_config
from sigattn.data.prepare import prepare
from sigattn.experiments.run import train_and_report
from sigattn.explain.axis import InputAxis, input_axis
from sigattn.train.tracker import NullTracker

pytestmark = pytest.mark.usefixtures("one_thread")

FS, LENGTH, MAX_HZ = 12000.0, 256, 5000.0
TIME = [{"name": "normalize"}]
SPECTRUM = [{"name": "normalize"}, {"name": "spectrum", "log": True, "max_hz": MAX_HZ}, {"name": "normalize"}]
TINY = ["data.synthetic.n_per_class=3", "data.synthetic.seconds=1.0", f"data.window.length={LENGTH}",
        "data.window.stride=128", "model.widths=[8,8,8,8]", "model.block=cbam", "train.epochs=1",
        "train.quiet=true", "train.device=cpu", "tracking.overlays_per_class=1"]  # fmt: skip


def xlabels(figures: list[Figure]) -> set[str]:
    """The x labels of the plotted panels (those with a title; colour bars have none)."""
    return {ax.get_xlabel() for f in figures for ax in f.axes if ax.get_title(loc="left") or ax.get_title()}


class Figures(NullTracker):
    """Keeps the figures and metrics a run logs."""

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}
        self.metrics: dict[str, float] = {}

    def log_figure(self, figure: Figure, path: str) -> None:
        self.figures[path] = figure

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.metrics |= metrics


def test_the_axis_follows_the_transforms():
    time = input_axis(TIME, FS, LENGTH)
    assert (time.label, time.trace_label, time.is_time) == ("time (s)", "amplitude (ch 0)", True)
    assert time.at(np.array([0, 12000])).tolist() == [0.0, 1.0]
    spectrum = input_axis(SPECTRUM, FS, LENGTH)
    assert (spectrum.label, spectrum.trace_label, spectrum.is_time) == ("frequency (Hz)", "log magnitude (ch 0)", False)
    assert spectrum.at(np.array([0, 1, 128])).tolist() == [0.0, FS / LENGTH, FS / 2]
    assert input_axis([{"name": "spectrum"}], FS, LENGTH).trace_label == "magnitude (ch 0)"
    assert InputAxis(None).label == "time (samples)"


@pytest.fixture(scope="module", params=["time", "spectrum"])
def run(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Figures, Path]:
    """A 1-epoch cbam run on the tiny synthetic bearing set, with a time or a spectrum input."""
    root = tmp_path_factory.mktemp(f"axis-{request.param}")
    transforms = TIME if request.param == "time" else SPECTRUM
    overrides = [f"data.transforms={json.dumps(transforms)}", f"train.checkpoint_dir={root / 'ckpt'}"]
    cfg = load_config(None, [*TINY, *overrides])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIGATTN_CACHE_DIR", str(root / "cache"))
        tracker = Figures()
        result = train_and_report(cfg, prepare(cfg.data), tracker, progress=False)
    return request.param, tracker, result.best_checkpoint


def test_a_run_draws_its_figures_over_the_input_axis(run):
    kind, tracker, _ = run
    overlays = [f for path, f in tracker.figures.items() if "/overlay_" in path]
    averages = [tracker.figures[p] for p in ("attention/class_average_ig.png", "attention/class_average_stage0.png")]
    assert overlays
    if kind == "time":
        assert "attention/class_envelope_ig.png" in tracker.figures
        assert any(k.startswith("attn_align_") for k in tracker.metrics)
        assert xlabels(overlays + averages) == {"time (s)"}
        assert overlays[0].axes[0].get_ylabel() == "amplitude (ch 0)"
        assert overlays[0].axes[0].get_xlim()[1] == pytest.approx((LENGTH - 0.5) / FS)
        return
    assert "attention/class_envelope_ig.png" not in tracker.figures  # envelope of a spectrum: meaningless
    assert not [k for k in tracker.metrics if "align" in k]
    assert xlabels(overlays + averages) == {"frequency (Hz)"}
    assert overlays[0].axes[0].get_ylabel() == "log magnitude (ch 0)"
    for figure in (overlays[0], *averages):
        assert abs(figure.axes[0].get_xlim()[1] - MAX_HZ) <= FS / LENGTH


def test_explain_scores_say_why_alignment_is_skipped_for_a_spectrum(run, tmp_path, monkeypatch):
    kind, _, checkpoint = run
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["explain", str(checkpoint), "--scores", "--limit", "1", "--stage", "0",
                                      "--out", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 0, result.output
    note = "fault-frequency alignment scores skipped: the model reads a spectrum, not a time signal"
    assert (note in result.output) == (kind == "spectrum")
    assert ("attn_align_stage0" in result.output) == (kind == "time")
