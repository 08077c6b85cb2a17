"""Frozen configuration dataclasses for a run: data, model, train and tracking sections.

Fields left as None in `DataConfig` take the defaults of the chosen dataset (see
`DATASET_DEFAULTS`), so `DataConfig(dataset="mitdb")` is ready to use. `load_config` reads a
YAML file and `--set`-style overrides ("train.epochs=30") into a validated `RunConfig`.
Block and backbone names are checked against the registries, imported only when validating.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

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
        _positive_int("data.window.length", self.length)
        _positive_int("data.window.stride", self.stride)


@dataclass(frozen=True)
class SplitConfig:
    """How windows are split; `guard` (segment) defaults to the window length.

    With `by-group`, `segment_groups` are cut into train | guard | val | guard | test segments
    by `fractions` (as `segment` does) while every other group goes whole to one split.
    """

    strategy: str = "segment"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    guard: int | None = None
    groups: dict[str, tuple[str, ...]] | None = None
    segment_groups: tuple[str, ...] = ()
    seed: int = 0
    allow_random: bool = False

    def __post_init__(self) -> None:
        _choice("data.split.strategy", self.strategy, STRATEGIES)
        fr = tuple(self.fractions)
        if len(fr) != 3 or any(isinstance(f, bool) or not isinstance(f, (int, float)) or f <= 0 for f in fr):
            raise SigattnError(f"data.split.fractions must be three positive numbers (train, val, test); got {fr!r}")
        if abs(sum(fr) - 1.0) > 1e-6:
            raise SigattnError(f"data.split.fractions must sum to 1; got {fr!r} (sum {sum(fr):.4f})")
        object.__setattr__(self, "fractions", tuple(float(f) for f in fr))
        if self.guard is not None and (
            isinstance(self.guard, bool) or not isinstance(self.guard, int) or self.guard < 0
        ):
            raise SigattnError(f"data.split.guard must be a non-negative integer or null; got {self.guard!r}")
        if self.groups is not None:
            if not isinstance(self.groups, dict) or set(self.groups) - set(SPLIT_NAMES):
                raise SigattnError(f"data.split.groups must map {', '.join(SPLIT_NAMES)} to lists of group names")
            object.__setattr__(self, "groups", {k: tuple(str(g) for g in v) for k, v in self.groups.items()})
            seen: dict[str, str] = {}
            for name, groups in self.groups.items():
                for g in groups:
                    if g in seen:
                        raise SigattnError(
                            f"data.split.groups lists group {g!r} in both {seen[g]!r} and {name!r}; each group "
                            "goes to one split (list groups to cut into segments in split.segment_groups)"
                        )
                    seen[g] = name
        if isinstance(self.segment_groups, (str, bytes)) or not isinstance(self.segment_groups, (list, tuple)):
            raise SigattnError(f"data.split.segment_groups must be a list of group names; got {self.segment_groups!r}")
        object.__setattr__(self, "segment_groups", tuple(str(g) for g in self.segment_groups))
        if self.segment_groups and self.strategy != "by-group":
            raise SigattnError(
                f"data.split.segment_groups needs split.strategy 'by-group' (the other groups stay whole); "
                f"got strategy {self.strategy!r}"
            )
        both = sorted(set(self.segment_groups) & {g for gs in (self.groups or {}).values() for g in gs})
        if both:
            raise SigattnError(
                f"data.split.segment_groups lists group(s) {', '.join(both)} that split.groups also places whole; "
                "a group is either cut into segments or assigned whole"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SigattnError(f"data.split.seed must be a non-negative integer; got {self.seed!r}")
        if not isinstance(self.allow_random, bool):
            raise SigattnError(f"data.split.allow_random must be true or false; got {self.allow_random!r}")


@dataclass(frozen=True)
class SyntheticConfig:
    """Size of the synthetic bearing set (see sigattn.data.synthetic)."""

    n_per_class: int = 20
    seconds: float = 2.0
    fs: float = 12000.0
    seed: int = 0

    def __post_init__(self) -> None:
        _positive_int("data.synthetic.n_per_class", self.n_per_class)
        object.__setattr__(self, "seconds", _positive_float("data.synthetic.seconds", self.seconds))
        object.__setattr__(self, "fs", _positive_float("data.synthetic.fs", self.fs))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SigattnError(f"data.synthetic.seed must be a non-negative integer; got {self.seed!r}")


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

    `scheme`/`loads`/`faults_only` are CWRU options (`faults_only` drops Normal: 9 classes
    in the 10class scheme, 3 in 4class), `lead`/`beat_*`/`rr_features` MIT-BIH ones (a beat
    window is beat_before + beat_after samples, so `window` is not used there; with
    `rr_features` the model also reads each beat's RR intervals, see sigattn.data.side),
    `manifest` the CSV path for dataset "manifest" and `synthetic` the size of the generated set.
    """

    dataset: str = "synthetic"
    data_dir: str | None = None
    manifest: str | None = None
    scheme: str = "10class"
    loads: tuple[int, ...] | None = None
    faults_only: bool = False
    rr_features: bool = False
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
        if not isinstance(self.faults_only, bool):
            raise SigattnError(f"data.faults_only must be true or false; got {self.faults_only!r}")
        if not isinstance(self.rr_features, bool):
            raise SigattnError(f"data.rr_features must be true or false; got {self.rr_features!r}")
        if self.rr_features and self.dataset != "mitdb":
            raise SigattnError(f"data.rr_features needs dataset 'mitdb' (beats with RR intervals); got {self.dataset}")
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


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SigattnError(f"{key} must be true or false; got {value!r}")
    return value


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _number(key: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = True) -> float:
    """A finite number in [low, high) (bounds open or closed as asked).

    Accepts "3e-4": YAML 1.1 (PyYAML) reads exponents without a dot as strings."""
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        value = float(value)
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise SigattnError(f"{key} must be a number in {interval}; got {value!r}")
    return float(value)


def _nonneg_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SigattnError(f"{key} must be a non-negative integer; got {value!r}")
    return value


@dataclass(frozen=True)
class ModelConfig:
    """The model: a backbone (`sigattn.models.BACKBONES`) with attention `block` in every stage,
    or one block name per stage. `widths` None keeps the backbone's default; `options` are
    extra keyword arguments of the backbone (e.g. resnet `depth`)."""

    backbone: str = "cnn"
    block: str | tuple[str, ...] = "se"
    widths: tuple[int, ...] | None = None
    dropout: float = 0.2
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from sigattn.blocks import BLOCKS
        from sigattn.models import BACKBONES

        backbone = self.backbone.lower() if isinstance(self.backbone, str) else self.backbone
        object.__setattr__(self, "backbone", _choice("model.backbone", backbone, tuple(sorted(BACKBONES))))
        names = [self.block] if isinstance(self.block, str) else self.block
        if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
            raise SigattnError(f"model.block must be a block name or a list of names; got {self.block!r}")
        for name in names:
            _choice("model.block", name.lower(), tuple(sorted(BLOCKS)))
        block = self.block.lower() if isinstance(self.block, str) else tuple(n.lower() for n in names)
        object.__setattr__(self, "block", block)
        if self.widths is not None:
            ws = self.widths
            if isinstance(ws, (str, bytes)) or not isinstance(ws, Sequence) or not ws:
                raise SigattnError(f"model.widths must be a list of positive integers or null; got {ws!r}")
            object.__setattr__(self, "widths", tuple(_positive_int("model.widths", w) for w in ws))
        object.__setattr__(self, "dropout", _number("model.dropout", self.dropout, 0.0, 1.0))
        if not isinstance(self.options, dict) or not all(isinstance(k, str) for k in self.options):
            raise SigattnError(f"model.options must be a mapping of backbone options; got {self.options!r}")
        for key in ("block", "widths", "dropout"):
            if key in self.options:
                raise SigattnError(f"model.options must not set {key!r}; use model.{key}")
        if "side_features" in self.options:
            raise SigattnError("model.options must not set 'side_features'; data.rr_features sets it")
        object.__setattr__(self, "options", dict(self.options))

    def blocks_label(self) -> str:
        """The block name, or the per-stage names joined by '+'."""
        return self.block if isinstance(self.block, str) else "+".join(self.block)


OPTIMIZERS: tuple[str, ...] = ("adamw", "sgd")
SCHEDULES: tuple[str, ...] = ("cosine", "onecycle", "plateau", "none")
BALANCE: tuple[str, ...] = ("none", "weights", "sampler")
MONITORS: tuple[str, ...] = ("val_loss", "val_accuracy", "val_macro_f1", "val_balanced_accuracy")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
DATA_PATHS: tuple[str, ...] = ("auto", "device", "stream")


@dataclass(frozen=True)
class TrainConfig:
    """The training loop. `balance`: "weights" = class-weighted loss, "sampler" = class-balanced
    sampling with replacement. `patience` 0 turns early stopping off; `monitor` picks the best
    epoch (val_loss is minimised, the others maximised). `data_path` "device" keeps the train split
    on the device, "stream" reads it from a memory-mapped store, "auto" picks (sigattn.train.batching)."""

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: str = "cosine"
    balance: str = "none"
    patience: int = 5
    monitor: str = "val_macro_f1"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    data_path: str = "auto"
    checkpoint_dir: str = "checkpoints"
    quiet: bool = False

    def __post_init__(self) -> None:
        _positive_int("train.epochs", self.epochs)
        _positive_int("train.batch_size", self.batch_size)
        _choice("train.optimizer", self.optimizer, OPTIMIZERS)
        object.__setattr__(self, "lr", _number("train.lr", self.lr, 0.0, 10.0, low_open=True, high_open=False))
        object.__setattr__(self, "weight_decay", _number("train.weight_decay", self.weight_decay, 0.0, 1.0))
        object.__setattr__(self, "momentum", _number("train.momentum", self.momentum, 0.0, 1.0))
        _choice("train.schedule", self.schedule, SCHEDULES)
        _choice("train.balance", self.balance, BALANCE)
        _nonneg_int("train.patience", self.patience)
        _choice("train.monitor", self.monitor, MONITORS)
        _nonneg_int("train.seed", self.seed)
        if not isinstance(self.device, str) or not (self.device in DEVICES or re.fullmatch(r"cuda:\d+", self.device)):
            raise SigattnError(f"train.device must be one of: {', '.join(DEVICES)}; got {self.device!r}")
        _choice("train.precision", self.precision, PRECISIONS)
        _bool("train.compile", self.compile)
        _choice("train.data_path", self.data_path, DATA_PATHS)
        _bool("train.quiet", self.quiet)
        if isinstance(self.checkpoint_dir, Path):
            object.__setattr__(self, "checkpoint_dir", str(self.checkpoint_dir))
        if not isinstance(self.checkpoint_dir, str) or not self.checkpoint_dir:
            raise SigattnError(f"train.checkpoint_dir must be a folder path; got {self.checkpoint_dir!r}")


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow: `uri` None uses MLFLOW_TRACKING_URI or MLflow's default; `run_name` None is generated."""

    uri: str | None = None
    experiment: str = "sigattn"
    run_name: str | None = None

    def __post_init__(self) -> None:
        for key in ("uri", "run_name"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value):
                raise SigattnError(f"tracking.{key} must be a non-empty string or null; got {value!r}")
        if not isinstance(self.experiment, str) or not self.experiment:
            raise SigattnError(f"tracking.experiment must be a non-empty string; got {self.experiment!r}")


_SECTIONS = {"model": ModelConfig, "train": TrainConfig, "tracking": TrackingConfig}


@dataclass(frozen=True)
class RunConfig:
    """A whole run: the four sections, each validated on construction."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> RunConfig:
        """Build from plain YAML/JSON data; unknown keys and bad values raise SigattnError."""
        d = dict(d or {})
        _reject_unknown(d, cls, "config")
        for key, value in d.items():
            if value is not None and not isinstance(value, dict):
                raise SigattnError(f"config section {key} must be a mapping; got {value!r}")
        kwargs: dict[str, Any] = {"data": DataConfig.from_dict(d.get("data"))}
        for key, section in _SECTIONS.items():
            values = dict(d.get(key) or {})
            _reject_unknown(values, section, key)
            kwargs[key] = section(**values)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data that `from_dict` reads back."""
        return {"data": self.data.to_dict(), **{key: _plain(asdict(getattr(self, key))) for key in _SECTIONS}}


def read_yaml(path: Path, what: str = "config file") -> Any:
    """The parsed YAML of `path`; a missing or unparsable file is a SigattnError naming `what` and path."""
    if not path.is_file():
        raise SigattnError(f"{what} {path} not found; expected a YAML file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SigattnError(f"{what} {path} is not valid YAML: {first}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SigattnError(
            f"config file {path} must hold a mapping with sections data, model, train, tracking; "
            f"got {type(data).__name__}"
        )
    return data


def parse_override(override: str, option: str = "override") -> tuple[str, Any]:
    """(key, value) of `section.key[.sub]=value`; the value is parsed as YAML."""
    key, sep, text = override.partition("=")
    key = key.strip()
    if not sep or not key or any(not part or " " in part for part in key.split(".")):
        raise SigattnError(f"{option} {override!r} must look like section.key=value (e.g. train.epochs=30)")
    try:
        return key, yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        raise SigattnError(f"{option} {override!r}: the value is not valid YAML") from None


def apply_override(d: dict[str, Any], override: str) -> None:
    """Set `section.key[.sub]=value` in the nested dict `d`; the value is parsed as YAML."""
    key, value = parse_override(override)
    *parents, last = key.split(".")
    node = d
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value


def load_config(source: Path | str | Mapping[str, Any] | None, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a run config — a YAML file, an already-parsed mapping, or None for all defaults —
    apply overrides like "train.epochs=30", and validate."""
    if source is None:
        data: dict[str, Any] = {}
    elif isinstance(source, Mapping):
        data = copy.deepcopy(dict(source))
    else:
        data = _read_yaml(Path(source).expanduser())
    for override in overrides:
        apply_override(data, override)
    return RunConfig.from_dict(data)


def run_name(cfg: RunConfig, n_classes: int, seed: int | None = None, model: str | None = None) -> str:
    """A readable run name: "<dataset>-<n>c/<model>/seed<seed>".

    `n_classes` is known only after data preparation; `seed` defaults to `cfg.train.seed`;
    `model` to the block (or blocks joined by '+'), with the backbone when it is not `cnn`.
    """
    seed = cfg.train.seed if seed is None else seed
    if model is None:
        model = cfg.model.blocks_label()
        model = model if cfg.model.backbone == "cnn" else f"{cfg.model.backbone}-{model}"
    return f"{cfg.data.dataset}-{n_classes}c/{model}/seed{seed}"
