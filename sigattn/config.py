"""Frozen configuration dataclasses. This file holds the DATA section; model/train come later.

Fields left as None in `DataConfig` take the defaults of the chosen dataset (see
`DATASET_DEFAULTS`), so `DataConfig(dataset="mitdb")` is ready to use.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sigattn.errors import SigattnError

DATASETS: tuple[str, ...] = ("synthetic", "cwru", "manifest", "mitdb")
STRATEGIES: tuple[str, ...] = ("segment", "by-group", "inter-patient", "random")
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SigattnError(f"{key} must be a positive integer; got {value!r}")
    return value


def _positive_float(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise SigattnError(f"{key} must be a positive number; got {value!r}")
    return float(value)


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SigattnError(f"{key} must be one of: {', '.join(allowed)}; got {value!r}")
    return value


@dataclass(frozen=True)
class WindowConfig:
    """Sliding windows: `length` and `stride` in samples (after any resampling)."""

    length: int = 1024
    stride: int = 512

    def __post_init__(self) -> None:
        _positive_int("window.length", self.length)
        _positive_int("window.stride", self.stride)


@dataclass(frozen=True)
class SplitConfig:
    """How windows are split; `guard` (segment) defaults to the window length."""

    strategy: str = "segment"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    guard: int | None = None
    groups: dict[str, tuple[str, ...]] | None = None
    seed: int = 0
    allow_random: bool = False

    def __post_init__(self) -> None:
        _choice("split.strategy", self.strategy, STRATEGIES)
        fr = tuple(self.fractions)
        if len(fr) != 3 or any(isinstance(f, bool) or not isinstance(f, (int, float)) or f <= 0 for f in fr):
            raise SigattnError(f"split.fractions must be three positive numbers (train, val, test); got {fr!r}")
        if abs(sum(fr) - 1.0) > 1e-6:
            raise SigattnError(f"split.fractions must sum to 1; got {fr!r} (sum {sum(fr):.4f})")
        object.__setattr__(self, "fractions", tuple(float(f) for f in fr))
        if self.guard is not None and (
            isinstance(self.guard, bool) or not isinstance(self.guard, int) or self.guard < 0
        ):
            raise SigattnError(f"split.guard must be a non-negative integer or null; got {self.guard!r}")
        if self.groups is not None:
            if not isinstance(self.groups, dict) or set(self.groups) - set(SPLIT_NAMES):
                raise SigattnError(f"split.groups must map {', '.join(SPLIT_NAMES)} to lists of group names")
            object.__setattr__(self, "groups", {k: tuple(str(g) for g in v) for k, v in self.groups.items()})
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SigattnError(f"split.seed must be a non-negative integer; got {self.seed!r}")
        if not isinstance(self.allow_random, bool):
            raise SigattnError(f"split.allow_random must be true or false; got {self.allow_random!r}")


@dataclass(frozen=True)
class SyntheticConfig:
    """Size of the synthetic bearing set (see sigattn.data.synthetic)."""

    n_per_class: int = 20
    seconds: float = 2.0
    fs: float = 12000.0
    seed: int = 0

    def __post_init__(self) -> None:
        _positive_int("synthetic.n_per_class", self.n_per_class)
        object.__setattr__(self, "seconds", _positive_float("synthetic.seconds", self.seconds))
        object.__setattr__(self, "fs", _positive_float("synthetic.fs", self.fs))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SigattnError(f"synthetic.seed must be a non-negative integer; got {self.seed!r}")


_VIBRATION = {
    "transforms": ({"name": "normalize", "method": "zscore"},),
    "window": WindowConfig(1024, 512),
    "split": SplitConfig("segment"),
}
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "synthetic": _VIBRATION,
    "cwru": _VIBRATION,
    "manifest": _VIBRATION,
    "mitdb": {
        "transforms": (
            {"name": "bandpass", "low": 0.5, "high": 40.0, "order": 2},
            {"name": "normalize", "method": "zscore"},
        ),
        "window": WindowConfig(260, 260),  # beats: 90 before + 170 after the R peak at 360 Hz
        "split": SplitConfig("inter-patient"),
    },
}


@dataclass(frozen=True)
class DataConfig:
    """The data section: which dataset, how to filter, window and split it.

    `scheme`/`loads` are CWRU options, `lead`/`beat_*` MIT-BIH ones (a beat window is
    beat_before + beat_after samples, so `window` is not used there), `manifest` the CSV path
    for dataset "manifest" and `synthetic` the size of the generated set.
    """

    dataset: str = "synthetic"
    data_dir: str | None = None
    manifest: str | None = None
    scheme: str = "10class"
    loads: tuple[int, ...] | None = None
    lead: str = "MLII"
    beat_before: int = 90
    beat_after: int = 170
    transforms: tuple[dict[str, Any], ...] | None = None
    window: WindowConfig | None = None
    split: SplitConfig | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    cache: bool = True

    def __post_init__(self) -> None:
        _choice("data.dataset", self.dataset, DATASETS)
        defaults = DATASET_DEFAULTS[self.dataset]
        for key in ("transforms", "window", "split"):
            if getattr(self, key) is None:
                object.__setattr__(self, key, defaults[key])
        object.__setattr__(self, "transforms", tuple(dict(t) for t in self.transforms))
        for key in ("data_dir", "manifest"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, key, str(value))
        for key in ("scheme", "lead"):
            if not isinstance(getattr(self, key), str):
                raise SigattnError(f"data.{key} must be a string; got {getattr(self, key)!r}")
        if self.loads is not None:
            loads = tuple(self.loads)
            if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 3 for v in loads):
                raise SigattnError(f"data.loads must be a list of motor loads 0-3 (hp); got {self.loads!r}")
            object.__setattr__(self, "loads", loads)
        _positive_int("data.beat_before", self.beat_before)
        _positive_int("data.beat_after", self.beat_after)
        if not isinstance(self.cache, bool):
            raise SigattnError(f"data.cache must be true or false; got {self.cache!r}")
        if self.dataset == "mitdb" and self.split.strategy != "inter-patient":
            raise SigattnError(f"dataset 'mitdb' needs split.strategy 'inter-patient'; got {self.split.strategy!r}")
        if self.dataset == "manifest" and not self.manifest:
            raise SigattnError("dataset 'manifest' needs data.manifest: the path of the manifest file")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, prefix: str = "data") -> DataConfig:
        """Build from plain YAML/JSON data; unknown keys and bad values raise SigattnError."""
        d = dict(d or {})
        _reject_unknown(d, cls, prefix)
        kwargs: dict[str, Any] = dict(d)
        for key, sub in (("window", WindowConfig), ("split", SplitConfig), ("synthetic", SyntheticConfig)):
            if key in d and d[key] is not None:
                if not isinstance(d[key], dict):
                    raise SigattnError(f"{prefix}.{key} must be a mapping; got {d[key]!r}")
                _reject_unknown(d[key], sub, f"{prefix}.{key}")
                base = DATASET_DEFAULTS[_choice(f"{prefix}.dataset", d.get("dataset", "synthetic"), DATASETS)]
                merged = asdict(base[key]) if key in base else {}
                merged.update(d[key])
                kwargs[key] = sub(**merged)
        if "transforms" in d and d["transforms"] is not None:
            ts = d["transforms"]
            if not isinstance(ts, (list, tuple)) or not all(isinstance(t, dict) and "name" in t for t in ts):
                raise SigattnError(f"{prefix}.transforms must be a list of {{name: ..., options}} mappings")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data (lists, not tuples) that `from_dict` reads back."""
        return _plain(asdict(self))


def _reject_unknown(d: dict[str, Any], cls: type, prefix: str) -> None:
    allowed = [f.name for f in fields(cls)]
    for key in d:
        if key not in allowed:
            raise SigattnError(f"unknown config key {prefix}.{key}; allowed: {', '.join(allowed)}")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
