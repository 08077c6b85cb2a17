"""What a trained model carries beside its weights, and the identity of the data and code it came from."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np

from sigattn import __version__
from sigattn.config import RunConfig
from sigattn.data.prepare import Prepared, beat_pipeline
from sigattn.data.side import RR_FEATURES
from sigattn.data.transforms import Pipeline
from sigattn.data.types import SPLITS
from sigattn.models.meta import BeatGeometry, ModelMeta


def bundle_meta(cfg: RunConfig, prepared: Prepared) -> ModelMeta:
    """Everything predict needs to rebuild the model and preprocess new signals, and nothing else."""
    beats = cfg.data.beats  # beats are cut around R peaks, not slid
    pipeline = beat_pipeline(cfg.data) if beats else Pipeline(cfg.data.transforms)
    before, after = cfg.data.beat_samples(prepared.fs)
    stats = prepared.side_stats
    return ModelMeta(
        model=cfg.to_dict()["model"],
        in_channels=int(prepared.splits["train"].x.shape[1]),
        classes=tuple(prepared.classes),
        fs=float(prepared.fs),
        window_length=int(prepared.window_length),
        window_stride=None if beats else cfg.data.window.stride,
        transforms=tuple(pipeline.to_config()),
        dataset=cfg.data.dataset,
        ecg=cfg.data.ecg,
        side_features=RR_FEATURES if cfg.data.rr_features else (),
        beat=BeatGeometry(",".join(cfg.data.leads), before, after) if beats else None,
        side_stats=None if stats is None else stats.to_dict(),
        config=cfg.to_dict(),  # the whole run config, so eval and resume need nothing else
        sigattn_version=__version__,
    )


def dataset_digest(prepared: Prepared) -> str:
    """Short SHA-256 hex over the x and y arrays of the three splits."""
    h = hashlib.sha256()
    for name in SPLITS:
        w = prepared.splits[name]
        h.update(name.encode())
        h.update(np.ascontiguousarray(w.x, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(w.y, dtype=np.int64).tobytes())
        if w.side is not None:
            h.update(np.ascontiguousarray(w.side, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def git_commit() -> str:
    """`git rev-parse HEAD` of the package's checkout, or "unknown"."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
