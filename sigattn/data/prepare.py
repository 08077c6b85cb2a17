"""Config -> model-ready train/val/test windows, audited for leakage and cached on disk.

The cache key is the SHA-256 of the canonical JSON of everything that shapes the windows
(dataset, data dir, label scheme, lead, beats, transforms, window, split) plus a format
version; a second run with the same config loads one .npz instead of parsing and filtering.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sigattn.config import DataConfig
from sigattn.data.folds import beat_counts, fold_groups
from sigattn.data.paths import dataset_dir
from sigattn.data.side import SideStats, rr_side_features
from sigattn.data.splits import (
    DS1,
    DS2,
    AuditResult,
    audit,
    inter_patient_groups,
    make_splits,
    split_windows_by_group,
)
from sigattn.data.transforms import Pipeline
from sigattn.data.types import SPLITS, Recording, Windows
from sigattn.data.windows import with_x
from sigattn.errors import SigattnError
from sigattn.outputs import atomic_file

CACHE_ENV = "SIGATTN_CACHE_DIR"
CACHE_FORMAT = 4
_ARRAYS = ("x", "y", "groups", "sources", "starts", "features", "side")


@dataclass(frozen=True)
class Prepared:
    """Audited train/val/test windows and what produced them."""

    splits: dict[str, Windows]
    classes: tuple[str, ...]
    fs: float
    audit: AuditResult
    config: DataConfig
    window_length: int
    cache_path: Path | None = None
    from_cache: bool = False
    side_stats: SideStats | None = None  # train-split mean/std that standardised `Windows.side`

    def summary(self) -> dict[str, Any]:
        """Classes, sampling rate, window length, windows per class per split, audit result."""
        return {
            "dataset": self.config.dataset,
            "classes": list(self.classes),
            "fs": self.fs,
            "window_length": self.window_length,
            "input_shape": list(self.splits["train"].x.shape[1:]),
            "windows": {name: w.class_counts() for name, w in self.splits.items()},
            "audit": self.audit.to_dict(),
            "from_cache": self.from_cache,
        }


def cache_dir() -> Path:
    """`$SIGATTN_CACHE_DIR`, else `data/cache` under the working directory."""
    return Path(os.environ.get(CACHE_ENV) or "data/cache").expanduser()


def _data_path(cfg: DataConfig) -> str | None:
    if cfg.dataset == "synthetic":
        return None
    if cfg.dataset == "manifest":
        return str(Path(cfg.manifest).expanduser().resolve())
    if cfg.dataset == "wfdb-beats":
        from sigattn.data.wfdb_beats import data_folder

        return str(data_folder(cfg).resolve())
    return str(dataset_dir(cfg.dataset, cfg.data_dir).resolve())


def _files_of(cfg: DataConfig, path: str) -> list[tuple[str, Path]]:
    """The files whose content shapes the windows, named relative to `path`."""
    root = Path(path)
    if cfg.dataset == "manifest":
        from sigattn.data.manifest import read_rows

        files = [root]
        for row in read_rows(root):
            files += [p for p in (row.path, row.path.with_suffix(".hea"), row.path.with_suffix(".dat")) if p.is_file()]
        return [(str(p), p) for p in files]
    cache = cache_dir().resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file() and cache not in p.resolve().parents)
    return [(str(p.relative_to(root)), p) for p in files]


def _fingerprint(cfg: DataConfig, path: str | None) -> str | None:
    """Names, sizes and mtimes of the data files, so added or changed files miss the cache."""
    if path is None:
        return None
    h = hashlib.sha256()
    for name, p in _files_of(cfg, path):
        st = p.stat()
        h.update(f"{name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def cache_key(cfg: DataConfig) -> str:
    """SHA-256 hex of the canonical JSON of the settings that shape the windows, the data files'
    fingerprint and `CACHE_FORMAT` (bump it when preparation code changes its output)."""
    d = cfg.to_dict()
    d.pop("cache")
    d["data_dir"] = _data_path(cfg)
    d["data_files"] = _fingerprint(cfg, d["data_dir"])
    d["transforms"] = beat_pipeline(cfg).to_config()
    d["format"] = CACHE_FORMAT
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _transform_records(recordings: list[Recording], pipeline: Pipeline) -> list[Recording]:
    out = []
    for rec in recordings:
        signal, fs = pipeline.apply_record(rec.signal, rec.fs)
        out.append(dataclasses.replace(rec, signal=np.asarray(signal, dtype=np.float32), fs=fs))
    return out


def load_recordings(cfg: DataConfig) -> tuple[list[Recording], tuple[str, ...]]:
    """The dataset's recordings as loaded (no transforms, no windows) and its class names."""
    if cfg.dataset == "synthetic":
        from sigattn.data import synthetic

        s = cfg.synthetic
        recs = synthetic.synthetic_recordings(n_per_class=s.n_per_class, seconds=s.seconds, fs=s.fs, seed=s.seed)
        return recs, synthetic.CLASSES
    if cfg.dataset == "cwru":
        from sigattn.data import cwru

        path = Path(_data_path(cfg))
        recs = cwru.load_recordings(path, scheme=cfg.scheme, loads=cfg.loads, faults_only=cfg.faults_only)
        names = cwru.classes(cfg.scheme)
        return recs, tuple(c for c in names if not (cfg.faults_only and c == "Normal"))
    from sigattn.data import manifest

    recs = manifest.load_recordings(Path(cfg.manifest).expanduser())
    return recs, tuple(sorted({r.label for r in recs}))


def beat_pipeline(cfg: DataConfig) -> Pipeline:
    """The transforms of `cfg`, with a `resample` to `data.beat_fs` after the record-level steps if set."""
    pipeline = Pipeline(cfg.transforms)
    if cfg.beat_fs is None:
        return pipeline
    resample = {"name": "resample", "target": cfg.beat_fs}
    return Pipeline([*pipeline.record_steps, resample, *pipeline.window_steps])


def beat_options(cfg: DataConfig, fs: float | None = None) -> dict[str, Any]:
    """The keyword arguments of `mitdb.load_beats` that `cfg` sets (window in samples at the beat rate;
    `fs` is the records' own rate, 360 Hz for MIT-BIH)."""
    from sigattn.data import mitdb

    pipeline = beat_pipeline(cfg)
    before, after = cfg.beat_samples(pipeline.output_fs(fs or mitdb.MITDB_FS))
    return {"lead": cfg.leads, "before": before, "after": after, "pipeline": pipeline,
            "amplitude": cfg.amplitude, "context": cfg.beat_context}  # fmt: skip


def _mitdb_splits(cfg: DataConfig) -> tuple[dict[str, Windows], int]:
    from sigattn.data import mitdb

    folder = Path(_data_path(cfg))
    kw = beat_options(cfg)
    ds1, ds2 = mitdb.load_beats(folder, DS1, **kw), mitdb.load_beats(folder, DS2, **kw)
    if cfg.split.folds:  # leave-records-out cross-validation on DS1
        group_split = fold_groups(beat_counts(ds1), cfg.split.folds, cfg.split.fold, cfg.split.seed)
    else:
        group_split = inter_patient_groups(DS1, cfg.split.fractions[1], cfg.split.seed)
    by_group = split_windows_by_group(ds1, group_split)
    splits = {"train": by_group["train"], "val": by_group["val"], "test": ds2}
    return splits, ds1.x.shape[-1]


def _standardised_side(splits: dict[str, Windows]) -> tuple[dict[str, Windows], SideStats | None]:
    """RR side features of every split, standardised with the train split's statistics alone
    (left as they are, with no statistics, when train is empty: evaluation-only data)."""
    side = {name: rr_side_features(w.features) for name, w in splits.items()}
    if not len(side["train"]):
        return {name: replace(w, side=side[name]) for name, w in splits.items()}, None
    stats = SideStats.fit(side["train"])
    return {name: replace(w, side=stats.apply(side[name])) for name, w in splits.items()}, stats


def _build(cfg: DataConfig) -> tuple[dict[str, Windows], int, SideStats | None]:
    pipeline = beat_pipeline(cfg)
    if cfg.dataset == "mitdb":
        splits, length = _mitdb_splits(cfg)
    elif cfg.dataset == "wfdb-beats":
        from sigattn.data.wfdb_beats import native_fs, wfdb_beats_splits

        fs = native_fs(cfg) if cfg.beat_window_s is not None and cfg.beat_fs is None else None
        splits, length = wfdb_beats_splits(cfg, beat_options(cfg, fs))
    else:
        recordings, classes = load_recordings(cfg)
        recordings = _transform_records(recordings, pipeline)
        splits, length = make_splits(recordings, cfg.split, cfg.window, classes), cfg.window.length
    out = {}
    for name in SPLITS:
        w = splits[name]
        x = pipeline.apply_windows(w.x, w.fs) if len(w) else w.x
        out[name] = with_x(w, np.ascontiguousarray(x, dtype=np.float32))
    if not cfg.rr_features:
        return out, length, None
    out, stats = _standardised_side(out)
    return out, length, stats


def _save(path: Path, splits: dict[str, Windows], length: int, stats: SideStats | None) -> None:
    arrays: dict[str, np.ndarray] = {}
    for name, w in splits.items():
        for key in _ARRAYS:
            value = getattr(w, key)
            if value is not None:
                arrays[f"{name}.{key}"] = value
    first = splits["train"]
    meta = {"classes": list(first.classes), "fs": first.fs, "window_length": length, "format": CACHE_FORMAT,
            "side_stats": None if stats is None else stats.to_dict()}  # fmt: skip
    arrays["meta"] = np.array(json.dumps(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        np.savez(f, **arrays)


def _load(path: Path) -> tuple[dict[str, Windows], int, SideStats | None]:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        classes, fs = tuple(meta["classes"]), float(meta["fs"])
        splits = {}
        for name in SPLITS:
            a = {key: z[f"{name}.{key}"] if f"{name}.{key}" in z.files else None for key in _ARRAYS}
            splits[name] = Windows(classes=classes, fs=fs, **a)
    stats = None if meta.get("side_stats") is None else SideStats.from_dict(meta["side_stats"])
    return splits, int(meta["window_length"]), stats


def prepare(cfg: DataConfig) -> Prepared:
    """Load, filter, split, window and audit the data of `cfg`, through the on-disk cache."""
    path = cache_dir() / f"{cfg.dataset}-{cache_key(cfg)[:24]}.npz" if cfg.cache else None
    from_cache = False
    if path is not None and path.is_file():
        try:
            splits, length, stats = _load(path)
            from_cache = True
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # unreadable or stale: rebuild below
    if not from_cache:
        splits, length, stats = _build(cfg)
        if path is not None:
            _save(path, splits, length, stats)
    if from_cache and cfg.split.strategy == "random":
        warnings.warn("random split: overlapping windows leak across splits", UserWarning, stacklevel=2)
    result = audit(splits, cfg.split.strategy, length, cfg.split.segment_groups)
    if not result.ok and cfg.split.strategy != "random":
        raise SigattnError(f"leakage audit failed for split.strategy {cfg.split.strategy!r}: {result.problems[0]}")
    first = splits["train"]
    return Prepared(splits, first.classes, first.fs, result, cfg, length, path, from_cache, stats)


def describe(cfg: DataConfig) -> dict[str, Any]:
    """`prepare(cfg).summary()`."""
    return prepare(cfg).summary()
