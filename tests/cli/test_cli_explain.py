"""`sigattn explain`: overlay plots and raw maps for chosen windows, and the interpretability scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sigattn.cli import app

runner = CliRunner()


@pytest.fixture
def cbam_model(tiny_checkpoint) -> Path:
    return tiny_checkpoint("cbam")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))


def explain(*args: object):
    return runner.invoke(app, ["explain", *map(str, args)])


def test_explains_the_test_split_by_class(cbam_model, tmp_path):
    result = explain(cbam_model, "--class", "IR", "--limit", "2", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert len(pngs) == 2 and all(p.stat().st_size > 10_000 for p in pngs)
    maps = json.loads((tmp_path / "out" / "maps.json").read_text())
    assert [w["true"] for w in maps["windows"]] == ["IR", "IR"]
    stages = maps["windows"][0]["stages"]
    assert len(stages) == 4
    for entry in stages.values():
        assert len(entry["temporal_on_input"]) == 256 and len(entry["channel_gate"]) == 8
        assert min(entry["temporal_on_input"]) > 0 and max(entry["temporal_on_input"]) < 1


def test_explains_a_file_and_one_stage(cbam_model, tmp_path):
    np.save(tmp_path / "sig.npy", np.random.default_rng(0).standard_normal(700).astype(np.float32))
    result = explain(cbam_model, tmp_path / "sig.npy", "--stage", "2", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    maps = json.loads((tmp_path / "out" / "maps.json").read_text())
    assert {w["window"] for w in maps["windows"]} <= {f"sig.npy@{s}" for s in (0, 128, 256, 384)}
    assert all(list(w["stages"]) == ["stages.2.attn"] and "true" not in w for w in maps["windows"])


def test_scores_are_printed(cbam_model, tmp_path):
    result = explain(cbam_model, "--scores", "--limit", "1", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    for name in ("deletion_drop_attention", "deletion_drop_ig", "deletion_drop_random", "attn_align_stage3_IR"):
        assert name in result.output


def test_scores_need_a_labelled_split(cbam_model, tmp_path):
    np.save(tmp_path / "sig.npy", np.zeros(700, np.float32))
    result = explain(cbam_model, tmp_path / "sig.npy", "--scores")
    assert result.exit_code == 2 and "labelled" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stage", "9"], "--stage 9 has no attention gates; stages with gates: [0, 1, 2, 3]"),
        (["--class", "XX"], "--class 'XX'"),
    ],
)
def test_bad_selection_is_one_line(cbam_model, tmp_path, args, message):
    result = explain(cbam_model, *args, "--out", tmp_path / "out")
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_model_without_attention_gets_integrated_gradients(tiny_checkpoint, tmp_path):
    result = explain(tiny_checkpoint("none"), "--limit", "1", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert len(pngs) == 4 and f"wrote 4 overlay plot(s) and maps.json to {tmp_path / 'out'}" in result.output
    maps = json.loads((tmp_path / "out" / "maps.json").read_text())
    assert all(w["stages"] == {} and set(w["deletion_p_drop"]) == {"ig", "random"} for w in maps["windows"])


def test_stage_without_gates_is_one_line(tiny_checkpoint, tmp_path):
    result = explain(tiny_checkpoint("none"), "--stage", "0", "--out", tmp_path / "runs" / "out")
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: --stage 0 has no attention gates; stages with gates: []")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # not even the folder made for --out


def signal_file(folder: Path) -> Path:
    path = folder / "sig.npy"
    np.save(path, np.random.default_rng(0).standard_normal(700).astype(np.float32))
    return path


@pytest.mark.parametrize("block", ["se", "eca"])
def test_channel_only_blocks_draw_ig_and_their_channel_gates(tiny_checkpoint, tmp_path, block):
    result = explain(tiny_checkpoint(block), signal_file(tmp_path), "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    pngs = sorted((tmp_path / "out").glob("*.png"))
    maps = json.loads((tmp_path / "out" / "maps.json").read_text())
    assert len(pngs) == len(maps["windows"]) >= 1 and all(p.stat().st_size > 10_000 for p in pngs)
    assert f"wrote {len(pngs)} overlay plot(s) and maps.json to" in result.output
    for entry in maps["windows"][0]["stages"].values():
        assert len(entry["channel_gate"]) == 8 and entry["temporal_on_input"] is None
    assert set(maps["windows"][0]["deletion_p_drop"]) == {"ig", "random"}


@pytest.fixture
def mixed_model(tiny_checkpoint) -> Path:
    return tiny_checkpoint("[se,cbam,se,cbam]")


def test_a_mixed_model_draws_one_overlay_per_window(mixed_model, tmp_path):
    result = explain(mixed_model, signal_file(tmp_path), "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    maps = json.loads((tmp_path / "out" / "maps.json").read_text())
    n = len(maps["windows"])
    assert len(list((tmp_path / "out").glob("*.png"))) == n >= 1
    assert f"wrote {n} overlay plot(s) and maps.json to" in result.output
    assert set(maps["windows"][0]["deletion_p_drop"]) == {"stage1", "stage3", "product", "ig", "random"}


@pytest.mark.parametrize(("stage", "views"), [("0", {"ig", "random"}), ("1", {"stage1", "ig", "random"})])
def test_stage_picks_one_stage(mixed_model, tmp_path, stage, views):
    result = explain(mixed_model, signal_file(tmp_path), "--stage", stage, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    n = len(list((tmp_path / "out").glob("*.png")))
    assert n >= 1 and f"wrote {n} overlay plot(s) and maps.json to" in result.output
    maps = json.loads((tmp_path / "out" / "maps.json").read_text())
    assert all(list(w["stages"]) == [f"stages.{stage}.attn"] for w in maps["windows"])
    assert all(set(w["deletion_p_drop"]) == views for w in maps["windows"])


def test_scores_put_the_run_drops_on_every_overlay(cbam_model, tmp_path, monkeypatch):
    seen = []
    real = __import__("sigattn.explain.windows", fromlist=["window_figures"]).window_figures

    def spy(*args, **kwargs):
        made = real(*args, **kwargs)
        seen.extend(figure for figure, _ in made)
        return made

    monkeypatch.setattr("sigattn.explain.windows.window_figures", spy)
    result = explain(cbam_model, "--scores", "--class", "IR", "--limit", "1", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    (figure,) = seen
    head, window_line, run_line, verdict = figure.get_suptitle().split("\n")
    assert verdict.startswith("attention")
    assert "IR" in head and window_line.startswith("drop in p(") and "IG " in window_line
    assert run_line.startswith("deletion drop on the scored split (accuracy, top 10 % masked): attention stage")
    panels = [ax.get_title(loc="left") for ax in figure.axes if ax.get_title(loc="left")]
    assert len(panels) == 6 and panels[-1].startswith("Integrated Gradients")  # 4 stages, their product, IG
