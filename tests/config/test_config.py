"""Run config: YAML + overrides, validation messages that name the key, round trips, run names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sigattn.config import (
    DataConfig,
    ModelConfig,
    RunConfig,
    SplitConfig,
    TrackingConfig,
    TrainConfig,
    load_config,
    run_name,
)
from sigattn.errors import SigattnError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file():
    cfg = load_config(None)
    assert cfg == RunConfig()
    assert cfg.model == ModelConfig(backbone="cnn", block="se", widths=None, dropout=0.2, options={})
    assert cfg.train.epochs == 10 and cfg.train.optimizer == "adamw" and cfg.train.monitor == "val_macro_f1"
    assert cfg.tracking == TrackingConfig(uri=None, experiment="sigattn", run_name=None)


def test_yaml_sections_and_overrides(tmp_path):
    path = write(
        tmp_path,
        "data:\n  dataset: synthetic\n  window: {length: 1024}\n"
        "model:\n  block: eca\n  widths: [8, 16]\n"
        "train:\n  epochs: 5\n  lr: 3.0e-3\n",
    )
    cfg = load_config(path, ["train.epochs=30", "model.block=cbam", "data.window.length=2048", "tracking.run_name=x"])
    assert cfg.train.epochs == 30 and cfg.train.lr == 3e-3
    assert cfg.model.block == "cbam" and cfg.model.widths == (8, 16)
    assert cfg.data.window.length == 2048 and cfg.data.window.stride == 512
    assert cfg.tracking.run_name == "x"


def test_override_values_are_yaml(tmp_path):
    cfg = load_config(
        None,
        ["model.block=[se, cbam, eca, none]", "train.compile=true", "data.synthetic.n_per_class=3", "model.options={}"],
    )
    assert cfg.model.block == ("se", "cbam", "eca", "none")
    assert cfg.train.compile is True and cfg.data.synthetic.n_per_class == 3
    assert cfg.model.blocks_label() == "se+cbam+eca+none"


def test_empty_file_gives_defaults(tmp_path):
    assert load_config(write(tmp_path, "# nothing\n")) == RunConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: [1, 2\n", "is not valid YAML"),
        ("- a\n- b\n", "must hold a mapping with sections data, model, train, tracking; got list"),
    ],
)
def test_bad_files_name_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SigattnError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SigattnError, match=r"config file .*nope.yaml not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=3", r"unknown config key train.epoch; allowed: epochs, batch_size, optimizer"),
        ("trian.epochs=3", r"unknown config key config.trian; allowed: data, model, train, tracking"),
        ("data.window.lenght=3", r"unknown config key data.window.lenght; allowed: length, stride"),
        ("model.blocks=se", r"unknown config key model.blocks; allowed: backbone, block"),
        ("tracking.url=x", r"unknown config key tracking.url; allowed: uri, experiment, run_name"),
        ("train.epochs=ten", r"train.epochs must be a positive integer; got 'ten'"),
        ("train.epochs=0", r"train.epochs must be a positive integer; got 0"),
        ("train.batch_size=2.5", r"train.batch_size must be a positive integer"),
        ("train.lr=0", r"train.lr must be a number in \(0, 10\]; got 0"),
        ("train.lr=-1e-3", r"train.lr must be a number"),
        ("train.weight_decay=-1", r"train.weight_decay must be a number in \[0, 1\)"),
        ("train.momentum=1", r"train.momentum must be a number in \[0, 1\)"),
        ("train.optimizer=adam", r"train.optimizer must be one of: adamw, sgd; got 'adam'"),
        ("train.schedule=step", r"train.schedule must be one of: cosine, onecycle, plateau, none"),
        ("train.balance=oversample", r"train.balance must be one of: none, weights, sampler"),
        ("train.monitor=val_f1", r"train.monitor must be one of: val_loss, val_accuracy, val_macro_f1"),
        ("train.patience=-1", r"train.patience must be a non-negative integer"),
        ("train.seed=x", r"train.seed must be a non-negative integer"),
        ("train.device=tpu", r"train.device must be one of: auto, cpu, cuda, cuda:N, mps; got 'tpu'"),
        ("train.precision=fp8", r"train.precision must be one of: auto, fp32, bf16, fp16"),
        ("train.compile=maybe", r"train.compile must be true, false or auto; got 'maybe'"),
        ("train.checkpoint_dir=", r"train.checkpoint_dir must be a folder path"),
        ("model.dropout=1.0", r"model.dropout must be a number in \[0, 1\); got 1.0"),
        ("model.dropout=-0.1", r"model.dropout must be a number in \[0, 1\)"),
        ("model.block=transformer", r"model.block must be one of: ca, cbam, eca, gc, none, se; got 'transformer'"),
        ("model.block=[se, nope]", r"model.block must be one of: .*; got 'nope'"),
        ("model.block=[]", r"model.block must be a block name or a list of names"),
        ("model.backbone=vgg", r"model.backbone must be one of: cnn, resnet, wdcnn; got 'vgg'"),
        ("model.widths=[8, 0]", r"model.widths must be a positive integer; got 0"),
        ("model.widths=8", r"model.widths must be a list of positive integers or null"),
        ("model.options={block: se}", r"model.options must not set 'block'; use model.block"),
        ("model.options=[1]", r"model.options must be a mapping"),
        ("tracking.experiment=", r"tracking.experiment must be a non-empty string"),
        ("train=3", r"config section train must be a mapping; got 3"),
        ("data.window.length=0", r"data.window.length must be a positive integer; got 0"),
    ],
)
def test_validation_errors_name_the_key(override, message):
    with pytest.raises(SigattnError, match=message) as info:
        load_config(None, [override])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("override", ["train.epochs", "=3", "train..epochs=3", "train epochs=3"])
def test_malformed_overrides(override):
    with pytest.raises(SigattnError, match=r"must look like section.key=value"):
        load_config(None, [override])


def test_bad_override_yaml():
    with pytest.raises(SigattnError, match=r"override 'model.block=\[se': the value is not valid YAML"):
        load_config(None, ["model.block=[se"])


def test_round_trip_through_dict_and_yaml():
    cfg = RunConfig(
        data=DataConfig(dataset="synthetic", window=None, transforms=({"name": "normalize", "method": "minmax"},)),
        model=ModelConfig(
            backbone="resnet",
            block=("se", "cbam", "eca", "gc"),
            widths=(8, 8, 16, 16),
            dropout=0.1,
            options={"depth": 2},
        ),  # fmt: skip
        train=TrainConfig(epochs=3, optimizer="sgd", schedule="onecycle", balance="sampler", device="cuda:1"),
        tracking=TrackingConfig(uri="sqlite:///x.db", run_name="r"),
    )
    d = cfg.to_dict()
    assert RunConfig.from_dict(d) == cfg
    assert RunConfig.from_dict(yaml.safe_load(yaml.safe_dump(d))) == cfg
    assert d["model"]["block"] == ["se", "cbam", "eca", "gc"] and d["model"]["widths"] == [8, 8, 16, 16]


def test_names_are_normalised():
    cfg = load_config(None, ["model.block=SE", "model.backbone=ResNet"])
    assert cfg.model.block == "se" and cfg.model.backbone == "resnet"


def test_run_name():
    assert run_name(load_config(None), 4) == "synthetic-4c/se/seed0"
    cwru = load_config(None, ["data.dataset=cwru", "model.block=cbam", "train.seed=1"])
    assert run_name(cwru, 10) == "cwru-10c/cbam/seed1"
    assert run_name(load_config(None, ["data.dataset=mitdb", "model.block=eca"]), 5) == "mitdb-5c/eca/seed0"
    assert run_name(load_config(None, ["model.block=[se, none]"]), 4, seed=7) == "synthetic-4c/se+none/seed7"


def test_quickstart_pipeline_loads():
    cfg = load_config(ROOT / "pipelines" / "quickstart.yaml")
    assert cfg.data.dataset == "synthetic" and cfg.train.epochs >= 1


def test_config_import_does_not_import_torch():
    code = "import sys, sigattn.config; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_exponents_without_a_dot_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads 3e-4 as a string; lr, weight_decay, momentum and dropout accept it
    cfg = load_config(write(tmp_path, "train:\n  lr: 3e-4\n"), ["train.weight_decay=1e-5", "model.dropout=1e-1"])
    assert (cfg.train.lr, cfg.train.weight_decay, cfg.model.dropout) == (3e-4, 1e-5, 0.1)
    with pytest.raises(SigattnError, match=r"train.lr must be a number in \(0, 10\]; got 'fast'"):
        load_config(None, ["train.lr=fast"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.split.fractions=5", "data.split.fractions must be three positive numbers (train, val, test); got 5"),
        ("data.split.fractions=[.nan, 0.5, 0.5]", "data.split.fractions must be three positive numbers"),
        ("data.loads=1", "data.loads must be a list of motor loads 0-3 (hp); got 1"),
        ("data.split.groups={train: 1}", "data.split.groups must map train, val, test to lists of group names"),
        ("data.transforms=[{name: x, 1: 2}]", "data.transforms must be a list of {name: ..., options} mappings"),
        ("train={1: 2}", "unknown config key train.1; allowed: epochs, batch_size"),
        ("data.window={1: 2}", "unknown config key data.window.1; allowed: length, stride"),
    ],
)
def test_values_of_the_wrong_type_are_one_line_errors_that_start_with_the_key(override, message):
    with pytest.raises(SigattnError) as info:
        load_config(None, [override])
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_sections_built_directly_check_their_values_and_nested_mappings():
    with pytest.raises(SigattnError, match=r"^data.split.fractions must be three positive numbers .*; got 5$"):
        SplitConfig(fractions=5)
    with pytest.raises(SigattnError, match=r"^data.loads must be a list of motor loads 0-3 \(hp\); got 1$"):
        DataConfig(loads=1)
    with pytest.raises(SigattnError, match=r"^data.window.length must be a positive integer; got 0$"):
        RunConfig(data={"window": {"length": 0}})
    assert RunConfig(model={"block": ["SE", "none"]}).model.block == ("se", "none")
