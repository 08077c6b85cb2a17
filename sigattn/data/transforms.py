"""A transform pipeline built from config: `[{"name": "bandpass", "low": 0.5, "high": 40}, ...]`.

Record-level steps (filters, notch, baseline, resample, record_normalize, add_envelope) run on a
whole recording before windowing; window-level steps (normalize, whiten, envelope, spectrum) run
on (N, C, L) windows after. `add_envelope` keeps the signal and appends its band-passed Hilbert
envelope as more channels; `envelope` then `spectrum` gives an envelope spectrum input.
The pipeline is pure given its config, so train, eval and predict apply the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sigattn.data import filters
from sigattn.errors import SigattnError

_REQUIRED = object()


@dataclass(frozen=True)
class StepSpec:
    """One known step: its level, its parameters with defaults (`_REQUIRED` if none) and types."""

    level: str  # "record" or "window"
    params: dict[str, tuple[type, Any]]
    apply: Callable[..., Any]


def _record(fn: Callable[..., np.ndarray]) -> Callable[..., tuple[np.ndarray, float]]:
    return lambda x, fs, **p: (fn(x, fs, **p), fs)


STEPS: dict[str, StepSpec] = {
    "bandpass": StepSpec(
        "record",
        {"low": (float, _REQUIRED), "high": (float, _REQUIRED), "order": (int, 4)},
        _record(filters.bandpass),
    ),
    "highpass": StepSpec("record", {"cutoff": (float, _REQUIRED), "order": (int, 4)}, _record(filters.highpass)),
    "lowpass": StepSpec("record", {"cutoff": (float, _REQUIRED), "order": (int, 4)}, _record(filters.lowpass)),
    "notch": StepSpec("record", {"freq": (float, 50.0), "q": (float, 30.0)}, _record(filters.notch)),
    "baseline": StepSpec("record", {"cutoff": (float, 0.5), "order": (int, 2)}, _record(filters.remove_baseline)),
    "resample": StepSpec("record", {"target": (float, _REQUIRED)}, filters.resample),
    "record_normalize": StepSpec(
        "record", {"method": (str, "zscore")}, lambda x, fs, **p: (filters.normalize(x, **p), fs)
    ),
    "add_envelope": StepSpec(
        "record",
        {"low": (float, _REQUIRED), "high": (float, _REQUIRED), "order": (int, 4)},
        _record(filters.with_envelope),
    ),
    "normalize": StepSpec("window", {"method": (str, "zscore")}, lambda x, fs, **p: filters.normalize(x, **p)),
    "envelope": StepSpec("window", {}, lambda x, fs: filters.envelope(x)),
    "whiten": StepSpec("window", {}, lambda x, fs: filters.whiten(x)),
    "spectrum": StepSpec(
        "window", {"log": (bool, False), "max_hz": (float, None)}, lambda x, fs, **p: filters.spectrum(x, fs, **p)
    ),
}


def _check_value(step: str, key: str, kind: type, value: Any) -> Any:
    where = f"transform {step!r} option {key!r}"
    if kind is bool:
        if not isinstance(value, bool):
            raise SigattnError(f"{where} must be true or false; got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise SigattnError(f"{where} must be a string; got {value!r}")
        if step in ("normalize", "record_normalize") and value not in filters.NORMALIZE_METHODS:
            raise SigattnError(f"{where} must be one of: {', '.join(filters.NORMALIZE_METHODS)}; got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SigattnError(f"{where} must be a number; got {value!r}")
    if kind is int and float(value) != int(value):
        raise SigattnError(f"{where} must be an integer; got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise SigattnError(f"{where} must be a positive number; got {value!r}")
    return int(value) if kind is int else float(value)


def _parse_step(item: Mapping[str, Any], index: int) -> dict[str, Any]:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise SigattnError(f"transform #{index} must be a mapping with a string 'name'; got {item!r}")
    name = item["name"].lower()
    if name not in STEPS:
        raise SigattnError(f"unknown transform {item['name']!r}; expected one of: {', '.join(sorted(STEPS))}")
    spec = STEPS[name]
    unknown = sorted(set(item) - {"name"} - set(spec.params))
    if unknown:
        allowed = ", ".join(sorted(spec.params)) or "none"
        raise SigattnError(f"transform {name!r} has unknown option {unknown[0]!r}; allowed: {allowed}")
    step: dict[str, Any] = {"name": name}
    for key, (kind, default) in spec.params.items():
        if key not in item or (item[key] is None and default is None):
            if default is _REQUIRED:
                raise SigattnError(f"transform {name!r} needs option {key!r}")
            step[key] = default
        else:
            step[key] = _check_value(name, key, kind, item[key])
    if name in ("bandpass", "add_envelope") and not step["low"] < step["high"]:
        raise SigattnError(f"transform {name!r} needs low < high; got low={step['low']}, high={step['high']}")
    return step


class Pipeline:
    """Validated, ordered transform steps: record-level ones first, then window-level ones."""

    def __init__(self, steps: Sequence[Mapping[str, Any]] = ()) -> None:
        if isinstance(steps, (str, bytes, Mapping)) or not isinstance(steps, Sequence):
            raise SigattnError(f"transforms must be a list of {{'name': ...}} mappings; got {steps!r}")
        self.steps: tuple[dict[str, Any], ...] = tuple(_parse_step(s, i) for i, s in enumerate(steps))
        seen_window = None
        for step in self.steps:
            level = STEPS[step["name"]].level
            if level == "window":
                seen_window = step["name"]
            elif seen_window is not None:
                raise SigattnError(
                    f"record-level transform {step['name']!r} must come before window-level transform {seen_window!r}"
                )

    @property
    def record_steps(self) -> tuple[dict[str, Any], ...]:
        return tuple(s for s in self.steps if STEPS[s["name"]].level == "record")

    @property
    def window_steps(self) -> tuple[dict[str, Any], ...]:
        return tuple(s for s in self.steps if STEPS[s["name"]].level == "window")

    def apply_record(self, signal: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
        """Run the record-level steps on a whole (C, T) recording; returns (signal, fs)."""
        for step in self.record_steps:
            params = {k: v for k, v in step.items() if k != "name"}
            signal, fs = STEPS[step["name"]].apply(signal, fs, **params)
        return signal, fs

    def apply_windows(self, x: np.ndarray, fs: float) -> np.ndarray:
        """Run the window-level steps on (N, C, L) windows."""
        for step in self.window_steps:
            params = {k: v for k, v in step.items() if k != "name"}
            x = STEPS[step["name"]].apply(x, fs, **params)
        return x

    def output_fs(self, fs: float) -> float:
        """The sampling rate after the record-level steps (resampling changes it)."""
        for step in self.record_steps:
            if step["name"] == "resample":
                up, down = filters.resample_ratio(fs, step["target"])
                fs = float(fs) * up / down
        return float(fs)

    def to_config(self) -> list[dict[str, Any]]:
        """The plain list of steps with defaults filled in, for logging and cache keys."""
        return [dict(s) for s in self.steps]

    def __repr__(self) -> str:
        return f"Pipeline({self.to_config()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pipeline) and self.steps == other.steps

    __hash__ = None  # type: ignore[assignment]
