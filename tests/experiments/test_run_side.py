"""A beat model with RR side features trains, resumes and reports end to end through its second input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sigattn.config import load_config
from sigattn.data.prepare import Prepared
from sigattn.data.side import RR_FEATURES
from sigattn.data.splits import AuditResult
from sigattn.data.types import SPLITS, Windows
from sigattn.evaluate.predict import evaluate
from sigattn.experiments.run import train_and_report
from sigattn.models.checkpoint import load_checkpoint, model_from_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
CLASSES = ("N", "S", "V", "F", "Q")


def _beats(n: int, seed: int) -> Windows:
    """Random beats whose class is readable only from the side features."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(CLASSES)
    side = rng.normal(size=(n, len(RR_FEATURES))).astype(np.float32)
    side[np.arange(n), y] += 4.0  # one feature per class
    x = rng.normal(size=(n, 1, 260)).astype(np.float32)
    group = np.array([f"r{seed}"] * n)
    return Windows(x, y, CLASSES, group, group, np.arange(n) * 300, 360.0, side=side)


def test_rr_model_trains_reports_and_reloads_with_its_side_input(tmp_path: Path):
    splits = {name: _beats(60, seed) for seed, name in enumerate(SPLITS)}
    cfg = load_config(None, ["data.dataset=mitdb", "data.rr_features=true", "model.widths=[8, 8, 8, 8]",
                             "model.block=cbam", "train.epochs=6", "train.batch_size=8", "train.lr=0.01",
                             "train.device=cpu", "train.quiet=true", f"train.checkpoint_dir={tmp_path}"])  # fmt: skip
    prepared = Prepared(splits, CLASSES, 360.0, AuditResult(True, "inter-patient"), cfg.data, 260)
    result = train_and_report(cfg, prepared, progress=False)
    assert result.test_metrics["accuracy"] > 0.6, "the class is in the side features only"
    model, meta = model_from_checkpoint(result.best_checkpoint)
    assert meta.side_features == RR_FEATURES and meta.in_channels == 1 and meta.beat.before == 90
    metrics, _ = evaluate(model, splits["test"])
    assert metrics["accuracy"] == result.test_metrics["accuracy"]
    with pytest.raises(ValueError, match="side features"):
        model(torch.from_numpy(splits["test"].x))
    last = load_checkpoint(result.last_checkpoint)
    resumed = train_and_report(load_config(cfg.to_dict(), ["train.epochs=7"]), prepared, resume=last, progress=False)
    assert resumed.history[:6] == result.history and len(resumed.history) == 7
