"""Reading a run config: a YAML file or mapping plus `--set`-style overrides ("train.epochs=30")
into a validated `RunConfig`, and the readable name of a run."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from sigattn.config.run import RunConfig
from sigattn.errors import SigattnError


def read_yaml(path: Path, what: str = "config file") -> Any:
    """The parsed YAML of `path`; a missing or unparsable file is a SigattnError naming `what` and path."""
    if not path.is_file():
        raise SigattnError(f"{what} {path} not found; expected a YAML file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SigattnError(f"{what} {path} is not valid YAML: {first}") from None


def _read_mapping(path: Path) -> dict[str, Any]:
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
        data = _read_mapping(Path(source).expanduser())
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
