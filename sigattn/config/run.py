"""The model, train and tracking sections, and `RunConfig`, the whole run.

Block and backbone names are checked against `sigattn.blocks.BLOCKS` and
`sigattn.models.BACKBONES`, imported when a name is first checked so that reading a config
does not load torch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, get_args

from annotated_types import Ge
from pydantic import BeforeValidator, Field

from sigattn.config.augment import AugmentConfig
from sigattn.config.data import DataConfig
from sigattn.config.fields import (
    Flag,
    Folder,
    Name,
    NameOrNull,
    NonNegativeInt,
    PositiveInt,
    bounded,
    is_int,
    one_of,
    string_keys,
)
from sigattn.config.validation import Section, bad_value, broken_rule, must_be

UnitInterval = bounded(0.0, 1.0)  # [0, 1)
Strength = bounded(0.0, 10.0, high_open=False)  # [0, 10]
LearningRate = bounded(0.0, 10.0, low_open=True, high_open=False)  # (0, 10]


def _block_names() -> list[str]:
    from sigattn.blocks import BLOCKS

    return sorted(BLOCKS)


def _backbone_names() -> list[str]:
    from sigattn.models import BACKBONES

    return sorted(BACKBONES)


def _backbone(value: Any) -> str:
    name = value.lower() if isinstance(value, str) else value
    allowed = _backbone_names()
    if name not in allowed:
        raise must_be(f"one of: {', '.join(allowed)}", name)
    return name


def _blocks(value: Any) -> str | tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise must_be("a block name or a list of names", value)
    allowed = _block_names()
    for name in names:
        if name.lower() not in allowed:
            raise must_be(f"one of: {', '.join(allowed)}", name.lower())
    return value.lower() if isinstance(value, str) else tuple(n.lower() for n in names)


def _widths(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise must_be("a list of positive integers or null", value)
    for width in value:
        if not is_int(width) or width < 1:
            raise must_be("a positive integer", width)
    return tuple(value)


def _options(value: Any) -> dict[str, Any]:
    if not string_keys(value):
        raise must_be("a mapping of backbone options", value)
    for key in ("block", "widths", "dropout"):
        if key in value:
            raise bad_value(f"must not set {key!r}; use model.{key}")
    if "side_features" in value:
        raise bad_value("must not set 'side_features'; data.rr_features sets it")
    return dict(value)


# JSON Schema hooks: the registries' names, read when the schema is made
def _backbone_schema(schema: dict[str, Any]) -> None:
    schema.pop("type", None)
    schema["enum"] = _backbone_names()


def _block_schema(schema: dict[str, Any]) -> None:
    names = {"enum": _block_names()}
    schema["anyOf"] = [names, {"type": "array", "items": names, "minItems": 1}]


class ModelConfig(Section):
    """The model: a backbone (`sigattn.models.BACKBONES`) with attention `block` in every stage,
    or one block name per stage. `widths` None keeps the backbone's default; `options` are
    extra keyword arguments of the backbone (e.g. resnet `depth`)."""

    where: ClassVar[str] = "model"
    backbone: Annotated[str, BeforeValidator(_backbone), Field(json_schema_extra=_backbone_schema)] = "cnn"
    block: Annotated[str | tuple[str, ...], BeforeValidator(_blocks), Field(json_schema_extra=_block_schema)] = "se"
    widths: Annotated[tuple[Annotated[int, Ge(1)], ...] | None, BeforeValidator(_widths)] = None
    dropout: UnitInterval = 0.2
    options: Annotated[dict[str, Any], BeforeValidator(_options)] = Field(default_factory=dict)

    def blocks_label(self) -> str:
        """The block name, or the per-stage names joined by '+'."""
        return self.block if isinstance(self.block, str) else "+".join(self.block)


Optimizer = Literal["adamw", "sgd"]
Schedule = Literal["cosine", "onecycle", "plateau", "none"]
Balance = Literal["none", "weights", "sampler"]
Loss = Literal["cross_entropy", "focal", "logit_adjusted"]
Monitor = Literal["val_loss", "val_accuracy", "val_macro_f1", "val_balanced_accuracy"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
DataPath = Literal["auto", "device", "stream"]
ReportSplit = Literal["test", "val"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
SCHEDULES: tuple[str, ...] = get_args(Schedule)
BALANCE: tuple[str, ...] = get_args(Balance)
LOSSES: tuple[str, ...] = get_args(Loss)
MONITORS: tuple[str, ...] = get_args(Monitor)
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS: tuple[str, ...] = get_args(Precision)
DATA_PATHS: tuple[str, ...] = get_args(DataPath)


def _device(value: Any) -> str:
    if not isinstance(value, str) or not (value in DEVICES or re.fullmatch(r"cuda:\d+", value)):
        raise must_be(f"one of: {', '.join(DEVICES)}", value)
    return value


def _flag_or_auto(value: Any) -> bool | str:
    if value != "auto" and not isinstance(value, bool):
        raise must_be("true, false or auto", value)
    return value


class TrainConfig(Section):
    """The training loop. `balance`: "weights" = class-weighted loss, "sampler" = class-balanced
    sampling with replacement. `patience` 0 turns early stopping off; `monitor` picks the best
    epoch (val_loss is minimised, the others maximised). `data_path` "device" keeps the train split
    on the device, "stream" reads it from a memory-mapped store, "auto" picks (sigattn.train.batching).
    `loss` (sigattn.train.losses): "focal" uses `focal_gamma`, "logit_adjusted" adds `logit_tau` times
    the log class prior of the train split to the training logits; `augment` changes training batches only.
    `report_split`: the split the best weights are scored on after training; "val" is for model selection
    (cross-validation folds): the test split is then never read, and the scores are logged as `val_best_*`.
    `adapt_bn` also scores the model after AdaBN (sigattn.evaluate.adapt: BatchNorm statistics re-estimated
    on the reported split's unlabelled windows), logged apart as `<prefix>_adabn_*`: it uses target data."""

    where: ClassVar[str] = "train"
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 64
    optimizer: Annotated[Optimizer, one_of(Optimizer)] = "adamw"
    lr: LearningRate = 1e-3
    weight_decay: UnitInterval = 1e-4
    momentum: UnitInterval = 0.9
    schedule: Annotated[Schedule, one_of(Schedule)] = "cosine"
    balance: Annotated[Balance, one_of(Balance)] = "none"
    loss: Annotated[Loss, one_of(Loss)] = "cross_entropy"
    focal_gamma: Strength = 2.0
    logit_tau: Strength = 1.0
    augment: AugmentConfig = AugmentConfig()
    patience: NonNegativeInt = 5
    monitor: Annotated[Monitor, one_of(Monitor)] = "val_macro_f1"
    report_split: Annotated[ReportSplit, one_of(ReportSplit)] = "test"
    adapt_bn: Flag = False
    seed: NonNegativeInt = 0
    device: Annotated[
        str, BeforeValidator(_device), Field(json_schema_extra={"pattern": r"^(auto|cpu|cuda|mps|cuda:[0-9]+)$"})
    ] = "auto"
    precision: Annotated[Precision, one_of(Precision)] = "auto"
    compile: Annotated[bool | Literal["auto"], BeforeValidator(_flag_or_auto)] = "auto"
    data_path: Annotated[DataPath, one_of(DataPath)] = "auto"
    checkpoint_dir: Folder = "checkpoints"
    quiet: Flag = False

    @property
    def report_prefix(self) -> str:
        """Prefix of the logged scores of `report_split`: "test", or "val_best" (per-epoch val_* stay apart)."""
        return "test" if self.report_split == "test" else "val_best"


class TrackingConfig(Section):
    """MLflow: `uri` None uses MLFLOW_TRACKING_URI or MLflow's default; `run_name` None is generated.
    `overlays_per_class`: per-window attention/IG overlays logged for each class, that many of its most
    confident correct and wrong windows each (0: none, the class-average figures stay)."""

    where: ClassVar[str] = "tracking"
    uri: NameOrNull = None
    experiment: Name = "sigattn"
    run_name: NameOrNull = None
    overlays_per_class: NonNegativeInt = 2


class RunConfig(Section):
    """A whole run: the four sections, each validated on construction."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @classmethod
    def _complete(cls, values: dict[str, Any]) -> dict[str, Any]:
        """An empty section (None) takes every default; anything else must be a mapping."""
        for key, value in list(values.items()):
            if value is None:
                del values[key]
            elif not isinstance(value, (Mapping, Section)):
                raise broken_rule(f"config section {key} must be a mapping; got {value!r}")
        return values
