"""The JSON Schema of a run YAML, for completion and checks in editors."""

from __future__ import annotations

from typing import Any

from sigattn.config.run import RunConfig


def run_config_schema() -> dict[str, Any]:
    """JSON Schema of a run config file: its four sections, every key with its type, bounds and
    default, the allowed names (block and backbone names from the registries), and no other keys.

    It is pydantic's schema (draft 2020-12) without a `$schema` line, so that editors still on
    draft 7 read it too; they only skip the per-item types of `data.split.fractions`. Numbers
    written like 3e-4 are strings to PyYAML but numbers to YAML 1.2 editors; `load_config`
    accepts both.
    """
    return {**RunConfig.model_json_schema(), "title": "sigattn run config"}
