"""The data section of a run config: which dataset, how to filter, window and split it.

Fields left as None in `DataConfig` take the defaults of the chosen dataset (`DATASET_DEFAULTS`),
so `DataConfig(dataset="mitdb")` is ready to use; a partial `window` or `split` mapping is
completed from the same defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, get_args

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BeforeValidator, Field, model_validator

from sigattn.config.data_values import (
    SPLIT_NAMES,  # noqa: F401 (re-exported)
    SplitName,
    Transform,
    _beat_fs,
    _beat_window,
    _fractions,
    _group_names,
    _groups,
    _guard,
    _leads,
    _loads,
    _records,
    _transforms,
)
from sigattn.config.fields import Flag, NonNegativeInt, PathOrNull, PositiveInt, PositiveNumber, Text, one_of
from sigattn.config.validation import Section, broken_rule

Dataset = Literal["synthetic", "cwru", "manifest", "mitdb", "wfdb-beats"]
BeatContext = Literal["none", "neighbours"]
Amplitude = Literal["window", "record-median-r", "record-median-beat"]
Strategy = Literal["segment", "by-group", "inter-patient", "random"]
DATASETS: tuple[str, ...] = get_args(Dataset)
STRATEGIES: tuple[str, ...] = get_args(Strategy)
ECG_DATASETS = frozenset({"mitdb", "wfdb-beats"})  # beats with AAMI labels: scored with per-class Se and +P
BEAT_DATASETS = ECG_DATASETS  # beats cut around annotated R peaks (beat_*, amplitude, rr_features apply)
BEAT_CONTEXTS: tuple[str, ...] = get_args(BeatContext)
AMPLITUDES: tuple[str, ...] = get_args(Amplitude)


class WindowConfig(Section):
    """Sliding windows: `length` and `stride` in samples (after any resampling). `train_stride`
    cuts the train split alone with another stride (overlapping-window augmentation: val and test
    windows keep `stride`); null uses `stride` everywhere."""

    where: ClassVar[str] = "data.window"
    length: PositiveInt = 1024
    stride: PositiveInt = 512
    train_stride: PositiveInt | None = None

    def stride_of(self, split: str) -> int:
        """The stride windows of `split` are cut with."""
        return self.train_stride if split == "train" and self.train_stride else self.stride


Fraction = Annotated[float, Gt(0), Lt(1)]


class SplitConfig(Section):
    """How windows are split; `guard` (segment) defaults to the window length.

    With `by-group`, `segment_groups` are cut into train | guard | val | guard | test segments
    by `fractions` (as `segment` does) while every other group goes whole to one split.
    `exclude` (by-group) names groups left out of every split, e.g. the outer test fold of a nested
    cross-validation, so they are never windowed.
    With `inter-patient`, `folds` K deals the DS1 records into K folds and `fold` (0-based) is val
    (sigattn.data.folds); `fractions` then no longer picks val.
    """

    where: ClassVar[str] = "data.split"
    strategy: Annotated[Strategy, one_of(Strategy)] = "segment"
    fractions: Annotated[tuple[Fraction, Fraction, Fraction], BeforeValidator(_fractions)] = (0.7, 0.15, 0.15)
    guard: Annotated[Annotated[int, Ge(0)] | None, BeforeValidator(_guard)] = None
    groups: Annotated[dict[SplitName, tuple[str, ...]] | None, BeforeValidator(_groups)] = None
    segment_groups: Annotated[tuple[str, ...], BeforeValidator(_group_names)] = ()
    exclude: Annotated[tuple[str, ...], BeforeValidator(_group_names)] = ()
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
        if self.exclude and self.strategy != "by-group":
            raise broken_rule(f"data.split.exclude needs split.strategy 'by-group'; got strategy {self.strategy!r}")
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


_BEATS: dict[str, Any] = {
    "transforms": (
        {"name": "bandpass", "low": 0.5, "high": 40.0, "order": 2},
        {"name": "normalize", "method": "zscore"},
    ),
    "window": WindowConfig(length=260, stride=260),  # beats: 90 before + 170 after the R peak at 360 Hz
}
_VIBRATION: dict[str, Any] = {
    "transforms": ({"name": "normalize", "method": "zscore"},),
    "window": WindowConfig(length=1024, stride=512),
    "split": SplitConfig(strategy="segment"),
}
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "synthetic": _VIBRATION,
    "cwru": _VIBRATION,
    "manifest": _VIBRATION,
    "mitdb": {**_BEATS, "split": SplitConfig(strategy="inter-patient")},
    "wfdb-beats": {**_BEATS, "split": SplitConfig(strategy="by-group")},
}


class DataConfig(Section):
    """The data section: which dataset, how to filter, window and split it.

    `scheme`/`loads`/`faults_only` are CWRU options (`faults_only` drops Normal: 9 classes
    in the 10class scheme, 3 in 4class), `lead`/`beat_*`/`amplitude`/`rr_features` beat-dataset
    ones for mitdb and wfdb-beats (`annotation`, `records` and a list of `lead` names to try are
    wfdb-beats only; a beat window is beat_before + beat_after samples, or `beat_window_s` seconds, at
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
    lead: Annotated[str | tuple[str, ...], BeforeValidator(_leads)] = "MLII"
    annotation: Text = "atr"
    records: Annotated[tuple[str, ...] | None, BeforeValidator(_records)] = None
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
    def beats(self) -> bool:
        """Whether the dataset is beats cut around annotated R peaks (mitdb, wfdb-beats)."""
        return self.dataset in BEAT_DATASETS

    @property
    def leads(self) -> tuple[str, ...]:
        """The lead names to try, in order."""
        return (self.lead,) if isinstance(self.lead, str) else tuple(self.lead)

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
            if dataset in BEAT_DATASETS and values.get("amplitude") == "record-median-r":  # scaled per record instead
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
        if self.rr_features and not self.beats:
            raise broken_rule(
                f"data.rr_features needs dataset 'mitdb' or 'wfdb-beats' (beats with RR intervals); got {self.dataset}"
            )
        self._beat_rules()
        if self.dataset == "mitdb" and self.split is not None and self.split.strategy != "inter-patient":
            raise broken_rule(f"dataset 'mitdb' needs split.strategy 'inter-patient'; got {self.split.strategy!r}")
        self._wfdb_beats_rules()
        if self.dataset == "manifest" and not self.manifest:
            raise broken_rule("dataset 'manifest' needs data.manifest: the path of the manifest file")
        return self

    def _wfdb_beats_rules(self) -> None:
        given = [k for k in ("annotation", "records") if getattr(self, k) != type(self).model_fields[k].default]
        if given and self.dataset != "wfdb-beats":
            raise broken_rule(f"data.{given[0]} needs dataset 'wfdb-beats'; got dataset {self.dataset!r}")
        if not isinstance(self.lead, str) and self.dataset != "wfdb-beats":
            raise broken_rule(f"data.lead as a list of leads to try needs dataset 'wfdb-beats'; got {self.dataset!r}")
        if self.dataset != "wfdb-beats" or self.split is None:
            return
        if self.split.strategy != "by-group" or self.split.segment_groups:
            raise broken_rule(
                "dataset 'wfdb-beats' splits whole records: needs split.strategy 'by-group' without "
                f"split.segment_groups; got strategy {self.split.strategy!r}"
            )

    def _beat_rules(self) -> None:
        beat_keys = {"beat_window_s": self.beat_window_s is not None, "beat_fs": self.beat_fs is not None,
                     "beat_context": self.beat_context != "none", "amplitude": self.amplitude != "window"}  # fmt: skip
        for key in (k for k, given in beat_keys.items() if given and not self.beats):
            raise broken_rule(
                f"data.{key} needs a beat dataset ('mitdb'); got dataset {self.dataset!r} (or use 'wfdb-beats')"
            )
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
