import json
import os

import numpy as np
import pytest

from sigattn.config import DataConfig, SplitConfig, WindowConfig
from sigattn.data import prepare as prep
from sigattn.data.types import SPLITS, Windows
from sigattn.errors import SigattnError

SMALL = {"synthetic": {"n_per_class": 4, "seconds": 1.0}}


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv(prep.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_synthetic_end_to_end_is_audited_and_cached(cache_in_tmp):
    cfg = DataConfig.from_dict(SMALL)
    first = prep.prepare(cfg)
    assert set(first.splits) == set(SPLITS) and first.audit.ok and not first.from_cache
    assert first.classes == ("Normal", "IR", "B", "OR") and first.fs == 12000.0
    for w in first.splits.values():
        assert all(n > 0 for n in w.class_counts().values())
        assert w.x.dtype == np.float32 and w.x.shape[1:] == (1, 1024)
        np.testing.assert_allclose(w.x.std(axis=-1), 1.0, atol=1e-3)  # default zscore ran
    assert first.cache_path is not None and first.cache_path.parent == cache_in_tmp
    assert first.cache_path.is_file() and not list(cache_in_tmp.glob("*.tmp"))

    second = prep.prepare(cfg)
    assert second.from_cache and second.audit.ok
    for name in SPLITS:
        a, b = first.splits[name], second.splits[name]
        for key in ("x", "y", "groups", "sources", "starts"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    summary = prep.describe(cfg)
    json.dumps(summary)
    assert summary["windows"]["test"]["OR"] > 0 and summary["audit"]["ok"] and summary["window_length"] == 1024


def test_cache_key_follows_what_shapes_the_windows():
    base = DataConfig.from_dict(SMALL)
    assert prep.cache_key(base) == prep.cache_key(DataConfig.from_dict({**SMALL, "cache": False}))
    other = DataConfig.from_dict({**SMALL, "transforms": [{"name": "normalize", "method": "minmax"}]})
    assert prep.cache_key(base) != prep.cache_key(other)
    assert prep.cache_key(base) != prep.cache_key(DataConfig.from_dict({**SMALL, "window": {"stride": 256}}))


def test_cache_disabled_writes_nothing(cache_in_tmp):
    result = prep.prepare(DataConfig.from_dict({**SMALL, "cache": False}))
    assert result.cache_path is None and not cache_in_tmp.exists()


def test_config_defaults_per_dataset_and_errors():
    mit = DataConfig(dataset="mitdb")
    assert mit.split.strategy == "inter-patient" and (mit.beat_before, mit.beat_after) == (90, 170)
    assert DataConfig(dataset="cwru").split.strategy == "segment"
    assert DataConfig().window == WindowConfig(length=1024, stride=512)
    cfg = DataConfig.from_dict({"dataset": "cwru", "loads": [0, 1], "split": {"seed": 4}})
    assert cfg.loads == (0, 1) and cfg.split == SplitConfig(strategy="segment", seed=4)
    assert DataConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(SigattnError, match=r"unknown config key data.windw; allowed: dataset, data_dir"):
        DataConfig.from_dict({"windw": {}})
    with pytest.raises(SigattnError, match=r"data.window.lenght"):
        DataConfig.from_dict({"window": {"lenght": 4}})
    with pytest.raises(SigattnError, match=r"window.length must be a positive integer; got 0"):
        DataConfig.from_dict({"window": {"length": 0}})
    with pytest.raises(SigattnError, match=r"split.fractions must sum to 1"):
        DataConfig.from_dict({"split": {"fractions": [0.5, 0.2, 0.2]}})
    with pytest.raises(SigattnError, match=r"data.dataset must be one of"):
        DataConfig.from_dict({"dataset": "ucr"})
    with pytest.raises(SigattnError, match=r"synthetic.seconds"):
        DataConfig.from_dict({"synthetic": {"seconds": -2}})


def test_unknown_transform_is_reported_before_any_work():
    with pytest.raises(SigattnError, match="unknown transform 'wavelet'; expected one of"):
        prep.prepare(DataConfig.from_dict({**SMALL, "transforms": [{"name": "wavelet"}]}))


def fake_beats(
    data_dir, records, *, lead="MLII", before=90, after=170, pipeline=None, amplitude="window", context="none"
):
    n = 5 * len(records)
    names = np.repeat(np.array(records, dtype=str), 5)
    return Windows(
        x=np.random.default_rng(0).normal(size=(n, 1, before + after)).astype(np.float32),
        y=np.tile(np.arange(5), len(records)).astype(np.int64),
        classes=("N", "S", "V", "F", "Q"),
        groups=names,
        sources=names.copy(),
        starts=np.tile(np.arange(5) * 300, len(records)).astype(np.int64),
        fs=360.0,
        features=np.zeros((n, 4), np.float32),
    )


def test_mitdb_dispatch_splits_by_record(tmp_path, monkeypatch):
    from sigattn.data import mitdb, splits

    monkeypatch.setattr(mitdb, "load_beats", fake_beats)
    result = prep.prepare(DataConfig(dataset="mitdb", data_dir=str(tmp_path)))
    assert result.audit.ok and result.audit.strategy == "inter-patient" and result.window_length == 260
    assert set(result.splits["test"].groups.tolist()) == set(splits.DS2)
    assert set(result.splits["val"].groups.tolist()) | set(result.splits["train"].groups.tolist()) == set(splits.DS1)
    assert result.splits["train"].features.shape[1] == 4
    cached = prep.prepare(DataConfig(dataset="mitdb", data_dir=str(tmp_path)))
    assert cached.from_cache
    np.testing.assert_array_equal(cached.splits["val"].features, result.splits["val"].features)


def test_cwru_dispatch_uses_its_class_order(tmp_path, monkeypatch):
    from sigattn.data import cwru, synthetic

    def fake(data_dir, *, scheme="10class", loads=None, faults_only=False):
        return synthetic.synthetic_recordings(n_per_class=3, seconds=1.0)

    monkeypatch.setattr(cwru, "load_recordings", fake)
    cfg = DataConfig(dataset="cwru", data_dir=str(tmp_path), scheme="4class", cache=False)
    result = prep.prepare(cfg)
    assert result.classes == cwru.classes("4class") and result.audit.ok


def test_missing_data_dir_is_a_user_error(monkeypatch):
    monkeypatch.delenv("SIGATTN_DATA_DIR", raising=False)
    with pytest.raises(SigattnError, match="SIGATTN_DATA_DIR"):
        prep.prepare(DataConfig(dataset="cwru"))


def test_cache_key_changes_when_data_files_change(tmp_path, monkeypatch):
    monkeypatch.delenv("SIGATTN_DATA_DIR", raising=False)
    (tmp_path / "cwru").mkdir()
    (tmp_path / "cwru" / "105.mat").write_bytes(b"abc")
    cfg = DataConfig(dataset="cwru", data_dir=str(tmp_path))
    before = prep.cache_key(cfg)
    assert prep.cache_key(cfg) == before
    (tmp_path / "cwru" / "97.mat").write_bytes(b"normal")
    assert prep.cache_key(cfg) != before


def test_manifest_cache_misses_when_a_listed_file_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    rows = ["path,label,fs"]
    for i, label in enumerate(["a", "b", "a", "b"]):
        np.save(tmp_path / f"r{i}.npy", rng.standard_normal(4000).astype(np.float32))
        rows.append(f"r{i}.npy,{label},1000")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    cfg = DataConfig.from_dict(
        {"dataset": "manifest", "manifest": str(tmp_path / "m.csv"), "window": {"length": 256, "stride": 256}}
    )
    first = prep.prepare(cfg)
    assert prep.prepare(cfg).from_cache
    np.save(tmp_path / "r0.npy", rng.standard_normal(4000).astype(np.float32))
    os.utime(tmp_path / "r0.npy", ns=(1, 1))  # a different mtime even on coarse clocks
    changed = prep.prepare(cfg)
    assert not changed.from_cache
    assert not np.array_equal(changed.splits["train"].x, first.splits["train"].x)
