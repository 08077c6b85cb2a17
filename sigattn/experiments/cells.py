"""A pipeline's cells: the YAML of a grid of run configs, expanded and validated into `Cell`s.

A pipeline YAML names a `base` run config (a path relative to the pipeline file, or an inline
mapping), `set` overrides for every cell, a `grid` of config keys to lists of values (expanded
as a cartesian product in the order given), optional `variants` (named override mappings, e.g.
the steps of an ablation, crossed with the grid as one more axis, "variant"), optional `cells`
(explicit override mappings, each with an optional `label`, e.g. cross-validation folds), crossed
with the grid, and optional `baselines` (`wdcnn`, the
WDCNN preset, `minirocket`, MiniRocket + ridge, and `dechazal`, a linear classifier on RR and
morphology features of ECG beats) crossed with the seeds and the cells, on the same split and windows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigattn import __version__
from sigattn.config import RunConfig, load_config, read_yaml
from sigattn.errors import SigattnError

CELL_TAG = "sigattn.cell"
KIND_TAG = "sigattn.kind"
BASELINE_TAG = "sigattn.baseline"
DIGEST_TAG = "sigattn.cell_digest"
# Where results go and how progress shows, not what a run computes: left out of a cell's digest.
_NOT_COMPUTED = {"tracking": (), "train": ("quiet", "checkpoint_dir"), "data": ("cache", "data_dir")}
SEED_KEY = "train.seed"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
_TOP_KEYS = ("name", "base", "set", "grid", "variants", "cells", "baselines", "ensemble")
BASELINE_KEY = "baseline"
VARIANT_KEY = "variant"
CELL_KEY = "cell"  # --grid 'cell=[label, ...]' runs only the cells with these labels
# What a baseline cell changes in the base config, over a cell's own settings too (a cell's model options
# are for the grid's models); minirocket is fitted by sigattn.experiments.baselines, dechazal by
# sigattn.experiments.linear_ecg.
BASELINE_SETS: dict[str, tuple[str, ...]] = {
    "wdcnn": ("model.backbone=wdcnn", "model.block=none", "model.widths=null", "model.options={}"),
    "minirocket": (),
    "dechazal": (),
}


@dataclass(frozen=True)
class Cell:
    """One run of the pipeline: grid values and the cell's own overrides (config key -> value),
    an optional label, and the validated config."""

    grid: dict[str, Any]
    extra: dict[str, Any]
    label: str | None
    config: RunConfig

    @property
    def overrides(self) -> dict[str, Any]:
        return {**self.grid, **self.extra}

    @property
    def key(self) -> str:
        """Stable identity across runs of the pipeline (the `sigattn.cell` tag): label + every override."""
        return _describe(self.overrides, self.label)

    @property
    def digest(self) -> str:
        """What the cell computes (`sigattn.cell_digest` tag): SHA-256 of its fully resolved config,
        less where results go (`_NOT_COMPUTED`), with the baseline and sigattn's version."""
        config = self.config.to_dict()
        for section, keys in _NOT_COMPUTED.items():
            if not keys:
                config.pop(section, None)
            for key in keys:
                config.get(section, {}).pop(key, None)
        text = json.dumps({"config": config, "baseline": self.baseline, "version": __version__}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def baseline(self) -> str | None:
        """The baseline's name ("wdcnn", "minirocket", "dechazal") for a baseline cell, else None."""
        return self.grid.get(BASELINE_KEY)

    @property
    def title(self) -> str:
        """Short name: the label stands for the cell's own overrides."""
        return _describe(self.grid, self.label) if self.label else self.key or "base"

    @property
    def model(self) -> str:
        """What the cell trains, without seed and label: the row pooling it over labelled cells."""
        return _describe({k: v for k, v in self.grid.items() if k != SEED_KEY}, None) or "base"

    @property
    def group(self) -> str:
        """The cell without its seed: the row of the summary it counts towards."""
        rest = self.grid if self.label else self.overrides
        return _describe({k: v for k, v in rest.items() if k != SEED_KEY}, self.label) or "base"


@dataclass(frozen=True)
class Pipeline:
    """`ensemble`: also score each cell's seeds as one model (sigattn.experiments.ensembles)."""

    name: str
    path: Path
    cells: tuple[Cell, ...]
    ensemble: bool = False


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _describe(overrides: Mapping[str, Any], label: str | None) -> str:
    text = ",".join(f"{k}={_value_text(v)}" for k, v in overrides.items())
    return f"{label}:{text}" if label and text else label or text


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value)}"  # JSON is YAML: load_config parses it back unchanged


def _check_key(where: str, key: Any) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise SigattnError(f"{where}: {key!r} is not a config key like model.block or train.seed")
    return key


def _variants(path: Path, spec: Any, only: Any) -> dict[str, tuple[str, ...]]:
    """Variant name -> its overrides as `key=value` strings, in the order given; `only` keeps some names."""
    if spec is None:
        if only is not None:
            raise SigattnError(f"--grid {VARIANT_KEY}: pipeline {path} has no variants")
        return {}
    if not isinstance(spec, dict) or not spec:
        raise SigattnError(f"pipeline {path}: variants must map names to mappings of config keys to values")
    out: dict[str, tuple[str, ...]] = {}
    for name, overrides in spec.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SigattnError(f"pipeline {path}: variant names must be letters, digits, '.', '_' or '-'; got {name!r}")
        if not isinstance(overrides, dict):
            raise SigattnError(f"pipeline {path}: variants.{name} must map config keys to values; got {overrides!r}")
        where = f"pipeline {path}: variants.{name}"
        out[name] = tuple(_override(_check_key(where, k), v) for k, v in overrides.items())
    if only is None:
        return out
    unknown = [v for v in only if v not in out] if isinstance(only, list) and only else [only]
    if unknown:
        raise SigattnError(f"--grid {VARIANT_KEY}: expected a list of variant names of {', '.join(out)}; got {only!r}")
    return {name: out[name] for name in only}


def _labelled(path: Path, cells: list[dict[str, Any]], only: Any) -> list[dict[str, Any]]:
    """The cells whose labels `only` lists, in the pipeline's order."""
    labels = [c["label"] for c in cells if c.get("label")]
    if not labels:
        raise SigattnError(f"--grid {CELL_KEY}: pipeline {path} has no labelled cells")
    if not isinstance(only, list) or not only or any(v not in labels for v in only):
        raise SigattnError(f"--grid {CELL_KEY}: expected a list of cell labels of {', '.join(labels)}; got {only!r}")
    return [c for c in cells if c.get("label") in only]


def _picked_baselines(baselines: list[str], only: Any) -> list[str]:
    """The baselines `only` lists (`[]`: none), in the pipeline's order."""
    if not isinstance(only, list) or any(b not in baselines for b in only):
        names = f"of {', '.join(baselines)}, or []" if baselines else "[] (the pipeline has none)"
        raise SigattnError(f"--grid {BASELINE_KEY}: expected a list of baseline names {names}; got {only!r}")
    return [b for b in baselines if b in only]


def load_pipeline(
    path: Path | str,
    *,
    overrides: Sequence[str] = (),
    tracking_uri: str | None = None,
    only: Mapping[str, Sequence[Any]] | None = None,
) -> Pipeline:
    """Read, expand and validate a pipeline: every cell's config is built before anything runs.

    `only` narrows grid axes to the given values (e.g. {"train.seed": [0]}): a subset of the
    cells, with the same keys, so a later full run skips what the narrow one finished."""
    path = Path(path)
    spec = read_yaml(path, "pipeline file")
    if not isinstance(spec, dict):
        raise SigattnError(f"pipeline {path} must be a mapping with keys {', '.join(_TOP_KEYS)}")
    unknown = sorted(set(spec) - set(_TOP_KEYS))
    if unknown:
        raise SigattnError(f"pipeline {path}: unknown key {unknown[0]!r}; allowed: {', '.join(_TOP_KEYS)}")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SigattnError(f"pipeline {path}: name must be letters, digits, '.', '_' or '-'; got {name!r}")
    base = spec.get("base")
    if isinstance(base, str):
        base = path.parent / base
        if not base.is_file():
            raise SigattnError(f"pipeline {path}: base config {base} not found")
    elif base is not None and not isinstance(base, dict):
        raise SigattnError(f"pipeline {path}: base must be a run config path or mapping; got {base!r}")
    sets = spec.get("set") or []
    if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
        raise SigattnError(f"pipeline {path}: set must be a list of key=value strings; got {sets!r}")
    grid = spec.get("grid") or {}
    if not isinstance(grid, dict):
        raise SigattnError(f"pipeline {path}: grid must map config keys to lists of values; got {grid!r}")
    for key, values in grid.items():
        _check_key(f"pipeline {path}: grid", key)
        if not isinstance(values, list) or not values:
            raise SigattnError(f"pipeline {path}: grid.{key} must be a non-empty list of values; got {values!r}")
    variants = _variants(path, spec.get("variants"), (only or {}).get(VARIANT_KEY))
    for key, values in (only or {}).items():
        if (key == VARIANT_KEY and variants) or key in (CELL_KEY, BASELINE_KEY):
            continue
        if key not in grid:
            raise SigattnError(f"--grid {key}: not a grid key of pipeline {path}; its grid keys: {', '.join(grid)}")
        if not isinstance(values, list) or not values:
            raise SigattnError(f"--grid {key}: expected a non-empty list of values like [0, 1]; got {values!r}")
        grid = {**grid, key: values}
    ensemble = spec.get("ensemble", False)
    if not isinstance(ensemble, bool):
        raise SigattnError(f"pipeline {path}: ensemble must be true or false; got {ensemble!r}")
    baselines = spec.get("baselines") or []
    if not isinstance(baselines, list) or any(b not in BASELINE_SETS for b in baselines):
        names = ", ".join(BASELINE_SETS)
        raise SigattnError(f"pipeline {path}: baselines must be a list of {names}; got {baselines!r}")
    if only and BASELINE_KEY in only:
        baselines = _picked_baselines(baselines, only[BASELINE_KEY])
    cells = spec.get("cells") or [{}]
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise SigattnError(f"pipeline {path}: cells must be a list of mappings of config keys to values")
    for i, c in enumerate(cells, 1):
        label = c.get("label")
        if label is not None and (not isinstance(label, str) or not label):
            raise SigattnError(f"pipeline {path}: cells[{i}].label must be a non-empty string; got {label!r}")
        for key in c:
            if key != "label":
                _check_key(f"pipeline {path}: cells[{i}]", key)
    if only and CELL_KEY in only:
        cells = _labelled(path, cells, only[CELL_KEY])
    tail = [*([f"tracking.uri={tracking_uri}"] if tracking_uri else []), *overrides]  # these win
    axes = [
        ({**({VARIANT_KEY: v} if v else {}), **dict(zip(grid, combo, strict=True))}, variants.get(v, ()))
        for v in (variants or [None])
        for combo in itertools.product(*grid.values())
    ]
    seeds = grid.get(SEED_KEY, [None])
    for b in baselines:
        axes += [({BASELINE_KEY: b, **({} if s is None else {SEED_KEY: s})}, BASELINE_SETS[b]) for s in seeds]
    out: list[Cell] = []
    for values, preset in axes:
        for c in cells:
            own, label = {k: v for k, v in c.items() if k != "label"}, c.get("label")
            chosen = [_override(k, v) for k, v in {**values, **own}.items() if k not in (BASELINE_KEY, VARIANT_KEY)]
            try:
                cfg = load_config(base, [*sets, *chosen, *preset, *tail])
            except SigattnError as error:
                title = _describe(values, label) if label else _describe({**values, **own}, None) or "base"
                raise SigattnError(f"pipeline {path}: cell {title}: {error}") from None
            if values.get(BASELINE_KEY) == "dechazal" and not cfg.data.ecg:
                got = cfg.data.dataset
                raise SigattnError(
                    f"pipeline {path}: baseline dechazal needs ECG beats (data.dataset 'mitdb'); got {got!r}"
                )
            out.append(Cell(values, own, label, cfg))
    keys = [c.key for c in out]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise SigattnError(f"pipeline {path}: cell {dupes[0]!r} appears twice; give cells distinct labels or values")
    trackings = {(c.config.tracking.uri, c.config.tracking.experiment) for c in out}
    if len(trackings) > 1:
        raise SigattnError(f"pipeline {path}: all cells must share tracking.uri and tracking.experiment")
    return Pipeline(name, path, tuple(out), ensemble)
