"""The model metadata records how beats were made: their rate, window, transforms and side statistics."""

from __future__ import annotations

import numpy as np

from sigattn.config import load_config
from sigattn.data.prepare import Prepared
from sigattn.data.side import RR_FEATURES, SideStats
from sigattn.data.splits import AuditResult
from sigattn.data.types import SPLITS, Windows
from sigattn.models.meta import ModelMeta
from sigattn.train.bundle import bundle_meta


def test_beat_rate_window_in_seconds_and_side_statistics_reach_the_metadata():
    cfg = load_config(None, ["data.dataset=mitdb", "data.rr_features=true", "data.beat_fs=180",
                             "data.beat_window_s=[0.25, 0.5]"])  # fmt: skip
    rng = np.random.default_rng(0)
    side = rng.normal(size=(10, len(RR_FEATURES))).astype(np.float32)
    names = np.array(["100"] * 10)
    beats = Windows(rng.normal(size=(10, 1, 135)).astype(np.float32), np.arange(10) % 5,
                    ("N", "S", "V", "F", "Q"), names, names, np.arange(10), 180.0, side=side)  # fmt: skip
    stats = SideStats.fit(side)
    splits = dict.fromkeys(SPLITS, beats)
    prepared = Prepared(splits, beats.classes, 180.0, AuditResult(True, "inter-patient"), cfg.data, 135,
                        side_stats=stats)  # fmt: skip
    meta = bundle_meta(cfg, prepared)
    assert (meta.beat.before, meta.beat.after, meta.fs, meta.window_length) == (45, 90, 180.0, 135)
    resamples = [t for t in meta.transforms if t["name"] == "resample"]
    assert len(resamples) == 1 and resamples[0]["target"] == 180.0, "the beat rate is part of the model's transforms"
    assert meta.side_stats == stats.to_dict()
    again = ModelMeta.from_dict(meta.to_dict())
    assert SideStats.from_dict(again.side_stats) == stats
