"""The JSON Schema of the run YAML: sections, registry names, defaults, and real configs that pass it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sigattn.blocks import BLOCKS
from sigattn.config import RunConfig, run_config_schema
from sigattn.models import BACKBONES

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def run_configs() -> dict[str, dict]:
    """Every run config under pipelines/: the plain ones and the inline `base` of each pipeline."""
    found = {}
    for path in sorted(PIPELINES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "name" not in data:
            found[path.name] = data
        elif isinstance(data.get("base"), dict):
            found[f"{path.name} base"] = data["base"]
    return found


def test_schema_lists_the_sections_the_registries_and_the_defaults():
    schema = run_config_schema()
    json.dumps(schema)
    assert list(schema["properties"]) == ["data", "model", "train", "tracking"]
    assert schema["additionalProperties"] is False
    model = schema["$defs"]["ModelConfig"]["properties"]
    names, per_stage = model["block"]["anyOf"]
    assert names["enum"] == sorted(BLOCKS) and per_stage["items"]["enum"] == sorted(BLOCKS)
    assert model["backbone"]["enum"] == sorted(BACKBONES)
    train = schema["$defs"]["TrainConfig"]["properties"]
    assert train["optimizer"]["enum"] == ["adamw", "sgd"] and train["lr"]["exclusiveMinimum"] == 0
    assert train["epochs"]["minimum"] == 1
    for section, values in RunConfig().to_dict().items():
        if section == "data":
            continue  # window, split and transforms default to the dataset's own
        keys = schema["$defs"][f"{section.title()}Config"]["properties"]
        defaults = {k: v["default"] for k, v in keys.items() if k != "options"}  # options: a default_factory
        assert defaults == {k: v for k, v in values.items() if k != "options"}, section


@pytest.mark.parametrize("draft", ["Draft202012Validator", "Draft7Validator"])  # editors may still be on draft 7
def test_pipeline_configs_validate_against_the_schema_and_typos_do_not(draft):
    jsonschema = pytest.importorskip("jsonschema")
    schema = run_config_schema()
    getattr(jsonschema, draft).check_schema(schema)
    validator = getattr(jsonschema, draft)(schema)
    configs = run_configs()
    assert "quickstart.yaml" in configs and "cwru-10class.yaml base" in configs
    for name, config in configs.items():
        assert [e.message for e in validator.iter_errors(config)] == [], name
    bad = {"train": {"epochz": 3}, "model": {"block": ["se", "transformer"]}, "data": {"split": {"fractions": 5}}}
    assert len(list(validator.iter_errors(bad))) == 3
