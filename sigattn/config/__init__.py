"""The run config: frozen pydantic models for the data, model, train and tracking sections.

`load_config` reads a YAML file and `--set`-style overrides ("train.epochs=30") into a
validated `RunConfig`; any bad key or value is a one-line SigattnError naming it.
`run_config_schema` gives the JSON Schema of the YAML for editors.
"""

from sigattn.config.augment import AugmentConfig, WanderConfig
from sigattn.config.data import (
    DATASET_DEFAULTS,
    DATASETS,
    SPLIT_NAMES,
    STRATEGIES,
    DataConfig,
    SplitConfig,
    SyntheticConfig,
    WindowConfig,
)
from sigattn.config.loading import apply_override, load_config, parse_override, read_yaml, run_name
from sigattn.config.run import (
    BALANCE,
    DATA_PATHS,
    DEVICES,
    LOSSES,
    MONITORS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    ModelConfig,
    RunConfig,
    TrackingConfig,
    TrainConfig,
)
from sigattn.config.schema import run_config_schema

__all__ = [
    "AugmentConfig",
    "BALANCE",
    "DATASETS",
    "DATASET_DEFAULTS",
    "DATA_PATHS",
    "DEVICES",
    "LOSSES",
    "MONITORS",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "SPLIT_NAMES",
    "STRATEGIES",
    "DataConfig",
    "ModelConfig",
    "RunConfig",
    "SplitConfig",
    "SyntheticConfig",
    "TrackingConfig",
    "TrainConfig",
    "WanderConfig",
    "WindowConfig",
    "apply_override",
    "load_config",
    "parse_override",
    "read_yaml",
    "run_config_schema",
    "run_name",
]
