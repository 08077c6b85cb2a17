"""The data section of a run config: which dataset, how to filter, window and split it.

Fields left as None in `DataConfig` take the defaults of the chosen dataset (`DATASET_DEFAULTS`),
so `DataConfig(dataset="mitdb")` is ready to use; a partial `window` or `split` mapping is
completed from the same defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, get_args

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from sigattn.config.fields import (
    Flag,
    NonNegativeInt,
    PathOrNull,
    PositiveInt,
    PositiveNumber,
    Text,
    as_number,
    is_int,
    one_of,
    string_keys,
)
from sigattn.config.validation import Section, bad_value, broken_rule, must_be

Dataset = Literal["synthetic", "cwru", "manifest", "mitdb"]
BeatContext = Literal["none", "neighbours"]
Amplitude = Literal["window", "record-median-r", "record-median-beat"]
Strategy = Literal["segment", "by-group", "inter-patient", "random"]
SplitName = Literal["train", "val", "test"]
DATASETS: tuple[str, ...] = get_args(Dataset)
STRATEGIES: tuple[str, ...] = get_args(Strategy)
SPLIT_NAMES: tuple[str, ...] = get_args(SplitName)
ECG_DATASETS = frozenset({"mitdb"})  # beats with AAMI labels: scored with per-class Se and +P
BEAT_CONTEXTS: tuple[str, ...] = get_args(BeatContext)
AMPLITUDES: tuple[str, ...] = get_args(Amplitude)


class WindowConfig(Section):
    """Sliding windows: `length` and `stride` in samples (after any resampling)."""

    where: ClassVar[str] = "data.window"
    length: PositiveInt = 1024
    stride: PositiveInt = 512


def _fractions(value: Any) -> tuple[float, ...]:
    given = tuple(value) if isinstance(value, (list, tuple)) else value
    numbers = [as_number(f) for f in given] if isinstance(given, tuple) else []
    if len(numbers) != 3 or any(f is None or f <= 0 for f in numbers):
        raise must_be("three positive numbers (train, val, test)", given)
    if abs(sum(numbers) - 1.0) > 1e-6:
        raise bad_value(f"must sum to 1; got {given!r} (sum {sum(numbers):.4f})")
    return tuple(numbers)


def _guard(value: Any) -> int | None:
    if value is not None and (not is_int(value) or value < 0):
        raise must_be("a non-negative integer or null", value)
    return value


def _group_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise must_be("a list of group names", value)
    return tuple(str(g) for g in value)


def _groups(value: Any) -> dict[str, tuple[str, ...]] | None:
    if value is None:
        return None
    lists = isinstance(value, Mapping) and all(isinstance(v, (list, tuple)) for v in value.values())
    if not lists or set(value) - set(SPLIT_NAMES):
        raise bad_value(f"must map {', '.join(SPLIT_NAMES)} to lists of group names; got {value!r}")
    groups = {name: _group_names(members) for name, members in value.items()}
    seen: dict[str, str] = {}
    for name, members in groups.items():
        for group in members:
            if group in seen:
                raise bad_value(
                    f"lists group {group!r} in both {seen[group]!r} and {name!r}; each group goes to one split "
                    "(list groups to cut into segments in split.segment_groups)"
                )
            seen[group] = name
    return groups


Fraction = Annotated[float, Gt(0), Lt(1)]


class SplitConfig(Section):
    """How windows are split; `guard` (segment) defaults to the window length.

    With `by-group`, `segment_groups` are cut into train | guard | val | guard | test segments
    by `fractions` (as `segment` does) while every other group goes whole to one split.
    With `inter-patient`, `folds` K deals the DS1 records into K folds and `fold` (0-based) is val
    (sigattn.data.folds); `fractions` then no longer picks val.
    """

    where: ClassVar[str] = "data.split"
    strategy: Annotated[Strategy, one_of(Strategy)] = "segment"
    fractions: Annotated[tuple[Fraction, Fraction, Fraction], BeforeValidator(_fractions)] = (0.7, 0.15, 0.15)
    guard: Annotated[Annotated[int, Ge(0)] | None, BeforeValidator(_guard)] = None
    groups: Annotated[dict[SplitName, tuple[str, ...]] | None, BeforeValidator(_groups)] = None
    segment_groups: Annotated[tuple[str, ...], BeforeValidator(_group_names)] = ()
    seed: NonNegativeInt = 0
    allow_random: Flag = False
    folds: Annotated[int | None, BeforeValidator(_guard)] = None
    fold: NonNegativeInt = 0

    @model_validator(mode="after")
    def _keys_fit(self) -> SplitConfig:
        if self.folds is not None and (self.folds < 2 or self.strategy != "inter-patient"):
            raise broken_rule(f"data.split.folds needs strategy 'inter-patient' and 2 or more folds; got {self.folds}")
        if self.fold >= (self.folds or 1):
            raise broken_rule(f"data.split.fold must be below split.folds; got fold {self.fold}, folds {self.folds}")
        if self.segment_groups and self.strategy != "by-group":
            raise broken_rule(
                f"data.split.segment_groups needs split.strategy 'by-group' (the other groups stay whole); "
                f"got strategy {self.strategy!r}"
            )
        both = sorted(set(self.segment_groups) & {g for gs in (self.groups or {}).values() for g in gs})
        if both:
            raise broken_rule(
                f"data.split.segment_groups lists group(s) {', '.join(both)} that split.groups also places whole; "
                "a group is either cut into segments or assigned whole"
            )
        return self


class SyntheticConfig(Section):
    """Size of the synthetic bearing set (see sigattn.data.synthetic)."""

    where: ClassVar[str] = "data.synthetic"
    n_per_class: PositiveInt = 20
    seconds: PositiveNumber = 2.0
    fs: PositiveNumber = 12000.0
    seed: NonNegativeInt = 0


_VIBRATION: dict[str, Any] = {
    "transforms": ({"name": "normalize", "method": "zscore"},),
    "window": WindowConfig(length=1024, stride=512),
    "split": SplitConfig(strategy="segment"),
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
        "window": WindowConfig(length=260, stride=260),  # beats: 90 before + 170 after the R peak at 360 Hz
        "split": SplitConfig(strategy="inter-patient"),
    },
}


def _loads(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or any(not is_int(v) or not 0 <= v <= 3 for v in value):
        raise must_be("a list of motor loads 0-3 (hp)", value)
    return tuple(value)


def _beat_window(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    given = tuple(value) if isinstance(value, (list, tuple)) else value
    numbers = [as_number(v) for v in given] if isinstance(given, tuple) else []
    if len(numbers) != 2 or None in numbers or numbers[0] < 0 or numbers[1] <= 0:
        raise must_be("[before, after] seconds around the R peak (before >= 0, after > 0) or null", value)
    return (numbers[0], numbers[1])


def _beat_fs(value: Any) -> float | None:
    number = None if value is None else as_number(value)
    if value is not None and (number is None or number <= 0):
        raise must_be("a positive rate in Hz or null (the record's own rate)", value)
    return number


def _transforms(value: Any) -> tuple[dict[str, Any], ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(string_keys(t) and "name" in t for t in value):
        raise must_be("a list of {name: ..., options} mappings", value)
    return tuple(dict(t) for t in value)


# one step of the signal pipeline (sigattn.data.transforms): its name and its options
Transform = Annotated[
    dict[str, Any], WithJsonSchema({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}})
]


class DataConfig(Section):
    """The data section: which dataset, how to filter, window and split it.

    `scheme`/`loads`/`faults_only` are CWRU options (`faults_only` drops Normal: 9 classes
    in the 10class scheme, 3 in 4class), `lead`/`beat_*`/`amplitude`/`rr_features` MIT-BIH
    ones (a beat window is beat_before + beat_after samples, or `beat_window_s` seconds, at
    `beat_fs` if set, so `window` is not used there; `beat_context`/`amplitude` see
    sigattn.data.beats; with `rr_features` the model also reads each beat's RR intervals,
    standardised with training-split statistics, see sigattn.data.side),
    `manifest` the CSV path for dataset "manifest" and `synthetic` the size of the generated set.
    """

    where: ClassVar[str] = "data"
    dataset: Annotated[Dataset, one_of(Dataset)] = "synthetic"
    data_dir: PathOrNull = None
    manifest: PathOrNull = None
    scheme: Text = "10class"
    loads: Annotated[tuple[Annotated[int, Ge(0), Le(3)], ...] | None, BeforeValidator(_loads)] = None
    faults_only: Flag = False
    rr_features: Flag = False
    lead: Text = "MLII"
    beat_before: PositiveInt = 90
    beat_after: PositiveInt = 170
    beat_window_s: Annotated[tuple[float, float] | None, BeforeValidator(_beat_window)] = None
    beat_fs: Annotated[float | None, BeforeValidator(_beat_fs)] = None
    beat_context: Annotated[BeatContext, one_of(BeatContext)] = "none"
    amplitude: Annotated[Amplitude, one_of(Amplitude)] = "window"
    transforms: Annotated[tuple[Transform, ...] | None, BeforeValidator(_transforms)] = None
    window: WindowConfig | None = None
    split: SplitConfig | None = None
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    cache: Flag = True

    @property
    def ecg(self) -> bool:
        """Whether the dataset holds ECG beats, scored with per-class sensitivity and +P (AAMI)."""
        return self.dataset in ECG_DATASETS

    def beat_samples(self, fs: float) -> tuple[int, int]:
        """(before, after) samples of a beat window at rate `fs`: `beat_window_s` rounded, else beat_before/after."""
        if self.beat_window_s is None:
            return self.beat_before, self.beat_after
        return round(self.beat_window_s[0] * fs), max(1, round(self.beat_window_s[1] * fs))

    @classmethod
    def _complete(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Take transforms, window and split from the dataset's defaults where absent or partial."""
        if values.get("synthetic") is None:
            values.pop("synthetic", None)
        dataset = values.get("dataset", "synthetic")
        defaults = DATASET_DEFAULTS.get(dataset) if isinstance(dataset, str) else None
        if defaults is None:  # an unknown dataset: its own error comes first
            return values
        if values.get("transforms") is None:
            values["transforms"] = defaults["transforms"]
            if dataset == "mitdb" and values.get("amplitude") == "record-median-r":  # scaled per record instead
                values["transforms"] = tuple(t for t in defaults["transforms"] if t["name"] != "normalize")
        for key in ("window", "split"):
            given = values.get(key)
            if given is None:
                values[key] = defaults[key]
            elif isinstance(given, Mapping):
                values[key] = {**defaults[key].model_dump(), **given}
        return values

    @model_validator(mode="after")
    def _dataset_rules(self) -> DataConfig:
        if self.rr_features and self.dataset != "mitdb":
            raise broken_rule(f"data.rr_features needs dataset 'mitdb' (beats with RR intervals); got {self.dataset}")
        self._beat_rules()
        if self.dataset == "mitdb" and self.split is not None and self.split.strategy != "inter-patient":
            raise broken_rule(f"dataset 'mitdb' needs split.strategy 'inter-patient'; got {self.split.strategy!r}")
        if self.dataset == "manifest" and not self.manifest:
            raise broken_rule("dataset 'manifest' needs data.manifest: the path of the manifest file")
        return self

    def _beat_rules(self) -> None:
        beat_keys = {"beat_window_s": self.beat_window_s is not None, "beat_fs": self.beat_fs is not None,
                     "beat_context": self.beat_context != "none", "amplitude": self.amplitude != "window"}  # fmt: skip
        for key in (k for k, given in beat_keys.items() if given and self.dataset != "mitdb"):
            raise broken_rule(f"data.{key} needs a beat dataset ('mitdb'); got dataset {self.dataset!r}")
        fields = type(self).model_fields
        samples = [
            f"{k} ({getattr(self, k)})" for k in ("beat_before", "beat_after") if getattr(self, k) != fields[k].default
        ]
        if self.beat_window_s is not None and samples:
            raise broken_rule(f"data.beat_window_s and data.{samples[0]} both set the beat window; give one of them")
        steps = [(str(t["name"]).lower(), t.get("method", "zscore")) for t in self.transforms or ()]
        if self.beat_fs is not None and any(name == "resample" for name, _ in steps):
            raise broken_rule("data.beat_fs and a 'resample' transform both set the beat rate; keep one of them")
        if self.amplitude == "record-median-r" and any(n == "normalize" and m != "none" for n, m in steps):
            raise broken_rule("data.amplitude 'record-median-r' scales each record; drop the 'normalize' step from "
                              "data.transforms (a per-window normalize would undo it)")  # fmt: skip
