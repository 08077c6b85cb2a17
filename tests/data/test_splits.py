import numpy as np
import pytest

from sigattn.config import SplitConfig, WindowConfig
from sigattn.data.folds import beat_counts, deal_folds, fold_groups
from sigattn.data.splits import (
    DS1,
    DS2,
    PACED,
    audit,
    inter_patient_groups,
    make_splits,
    split_windows_by_group,
)
from sigattn.data.types import Recording, Windows
from sigattn.data.windows import concat, take
from sigattn.errors import SigattnError

WINDOW = WindowConfig(length=64, stride=32)


def recordings(n_groups: int = 6, per_group: int = 2, samples: int = 2000) -> list[Recording]:
    rng = np.random.default_rng(0)
    return [
        Recording(
            rng.normal(size=(1, samples)).astype(np.float32),
            1000.0,
            ("x", "y")[g % 2],
            f"g{g}",
            f"g{g}-r{r}",
        )
        for g in range(n_groups)
        for r in range(per_group)
    ]


def windows(source: str, group: str, starts: list[int]) -> Windows:
    n = len(starts)
    return Windows(
        x=np.zeros((n, 1, 64), np.float32),
        y=np.zeros(n, np.int64),
        classes=("x",),
        groups=np.full(n, group),
        sources=np.full(n, source),
        starts=np.array(starts, np.int64),
        fs=1000.0,
    )


def test_clean_segment_split_passes_the_audit():
    splits = make_splits(recordings(), SplitConfig(strategy="segment"), WINDOW, ("x", "y"))
    result = audit(splits, "segment", WINDOW.length)
    assert result.ok and result.problems == [] and result.to_dict()["ok"] is True
    for w in splits.values():
        assert set(w.class_counts().values()) != {0}
    # The guard gap: the last train window ends at least one window before the first val window.
    tr, va = splits["train"], splits["val"]
    src = tr.sources[0]
    assert va.starts[va.sources == src].min() - (tr.starts[tr.sources == src].max() + 64) >= 64


def test_audit_catches_overlapping_windows_of_one_recording():
    planted = {
        "train": windows("rec", "g", [0, 32, 64, 96]),
        "val": windows("rec", "g", [300]),
        "test": windows("rec", "g", [140, 500]),  # 140 < 96 + 64: overlaps the last train window
    }
    result = audit(planted, "segment", 64)
    assert not result.ok
    assert any("rec" in p and "test" in p and "train" in p for p in result.problems)
    planted["test"] = windows("rec", "g", [160, 500])  # touching (96 + 64 = 160) is not overlapping
    assert audit(planted, "segment", 64).ok


def test_audit_catches_a_group_in_two_splits():
    splits = make_splits(recordings(), SplitConfig(strategy="by-group"), WINDOW, ("x", "y"))
    assert audit(splits, "by-group", 64).ok
    leaked = dict(splits)
    # A different recording of a train group moved to test: no sample overlap, but the group crosses.
    train = splits["train"]
    group = train.groups[0]
    moved = take(train, (train.groups == group) & (train.sources != train.sources[0]))
    leaked["train"] = take(train, train.sources == train.sources[0])
    leaked["test"] = moved
    result = audit(leaked, "by-group", 64)
    assert not result.ok and any(f"group {group}" in p for p in result.problems)
    assert audit(leaked, "segment", 64).ok  # segment allows groups in every split


def test_by_group_keeps_groups_whole_and_is_seeded():
    a = make_splits(recordings(), SplitConfig(strategy="by-group", seed=3), WINDOW, ("x", "y"))
    b = make_splits(recordings(), SplitConfig(strategy="by-group", seed=3), WINDOW, ("x", "y"))
    for name in a:
        np.testing.assert_array_equal(a[name].sources, b[name].sources)
    seen = [set(w.groups.tolist()) for w in a.values()]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


def test_by_group_explicit_mapping():
    mapping = {"train": ["g0", "g1", "g2", "g3"], "val": ["g4"], "test": ["g5"]}
    s = make_splits(recordings(), SplitConfig(strategy="by-group", groups=mapping), WINDOW, ("x", "y"))
    assert set(s["test"].groups.tolist()) == {"g5"}
    with pytest.raises(SigattnError, match="does not place group"):
        make_splits(recordings(), SplitConfig(strategy="by-group", groups={"train": ["g0"]}), WINDOW, ("x", "y"))
    with pytest.raises(SigattnError, match="in both"):
        bad = {"train": ["g0", "g1", "g2", "g3", "g4"], "val": ["g4"], "test": ["g5"]}
        make_splits(recordings(), SplitConfig(strategy="by-group", groups=bad), WINDOW, ("x", "y"))


def test_train_stride_overlaps_training_windows_only():
    window = WindowConfig(length=64, stride=32, train_stride=8)
    mapping = {"train": ["g0", "g1", "g2", "g3"], "val": ["g4"], "test": ["g5"]}
    for split in (SplitConfig(strategy="by-group", groups=mapping), SplitConfig(strategy="segment")):
        s = make_splits(recordings(), split, window, ("x", "y"))
        plain = make_splits(recordings(), split, WINDOW, ("x", "y"))
        steps = {name: np.unique(np.diff(w.starts[w.sources == w.sources[0]])) for name, w in s.items()}
        assert steps["train"].tolist() == [8] and steps["val"].tolist() == steps["test"].tolist() == [32]
        assert len(s["train"]) > 3 * len(plain["train"])
        np.testing.assert_array_equal(s["test"].starts, plain["test"].starts)
        assert audit(s, split.strategy, 64).ok
    with pytest.raises(SigattnError, match="train_stride needs split.strategy segment or by-group"):
        make_splits(recordings(), SplitConfig(strategy="random", allow_random=True), window, ("x", "y"))


def test_exclude_leaves_groups_out_of_every_split():
    mapping = {"train": ["g0", "g1", "g2"], "val": ["g3"], "test": ["g4"]}
    s = make_splits(recordings(), SplitConfig(strategy="by-group", groups=mapping, exclude=["g5"]), WINDOW, ("x", "y"))
    assert not any("g5" in w.groups for w in s.values())
    with pytest.raises(SigattnError, match="split.exclude names group"):
        make_splits(recordings(), SplitConfig(strategy="by-group", exclude=["g9"]), WINDOW, ("x", "y"))
    with pytest.raises(SigattnError, match="exclude needs split.strategy 'by-group'"):
        SplitConfig(strategy="segment", exclude=["g1"])


def test_random_needs_the_flag_and_warns():
    with pytest.raises(SigattnError, match="allow_random"):
        make_splits(recordings(), SplitConfig(strategy="random"), WINDOW, ("x", "y"))
    with pytest.warns(UserWarning, match="leak"):
        s = make_splits(recordings(), SplitConfig(strategy="random", allow_random=True), WINDOW, ("x", "y"))
    assert not audit(s, "random", 64).ok  # overlapping windows do leak


def test_segment_too_short_recording_says_how_long_it_must_be():
    with pytest.raises(SigattnError, match=r"g0-r0: 300 samples is too short .* at least"):
        make_splits(recordings(samples=300), SplitConfig(strategy="segment"), WINDOW, ("x", "y"))


def test_inter_patient_record_lists_and_assignment():
    assert len(DS1) == len(DS2) == 22 and not set(DS1) & set(DS2) and not set(PACED) & set(DS1 + DS2)
    mapping = inter_patient_groups(DS1 + DS2, 0.15, seed=0)
    assert {r for r, s in mapping.items() if s == "test"} == set(DS2)
    val = {r for r, s in mapping.items() if s == "val"}
    assert val < set(DS1) and len(val) == 3
    assert inter_patient_groups(DS1 + DS2, 0.15, seed=0) == mapping
    with pytest.raises(SigattnError, match="neither DS1 nor DS2"):
        inter_patient_groups(["102"], 0.15, 0)


def test_inter_patient_audit_checks_the_record_lists():
    beats = windows("101", "101", [0, 100, 200])
    good = split_windows_by_group(beats, {"101": "train"})
    good["test"] = windows("100", "100", [0, 100])
    assert audit(good, "inter-patient", 64).ok
    good["test"] = windows("106", "106", [0])
    result = audit(good, "inter-patient", 64)
    assert not result.ok and "record 106 is in test but not in DS2" in result.problems


def test_segment_groups_cut_some_groups_and_keep_the_others_whole():
    mapping = {"train": ["g1", "g2", "g3"], "val": ["g4"], "test": ["g5"]}
    cfg = SplitConfig(strategy="by-group", groups=mapping, segment_groups=["g0"])
    s = make_splits(recordings(), cfg, WINDOW, ("x", "y"))
    for name, whole in (("train", {"g1", "g2", "g3"}), ("val", {"g4"}), ("test", {"g5"})):
        assert set(s[name].groups.tolist()) == whole | {"g0"}  # g0's segments are in every split
    assert audit(s, "by-group", WINDOW.length, segmented=["g0"]).ok
    assert not audit(s, "by-group", WINDOW.length).ok  # without the exemption g0 crosses splits
    # a planted overlap inside the segmented group is still caught
    g0_val = take(s["val"], s["val"].groups == "g0")
    leaked = dict(s, train=concat([s["train"], g0_val]))
    assert not audit(leaked, "by-group", WINDOW.length, segmented=["g0"]).ok


def test_segment_groups_are_validated():
    with pytest.raises(SigattnError, match="needs split.strategy 'by-group'"):
        SplitConfig(strategy="segment", segment_groups=["g0"])
    with pytest.raises(SigattnError, match="also places whole"):
        SplitConfig(strategy="by-group", groups={"train": ["g0"]}, segment_groups=["g0"])
    with pytest.raises(SigattnError, match="does not have"):
        make_splits(recordings(), SplitConfig(strategy="by-group", segment_groups=["nope"]), WINDOW, ("x", "y"))


# S and V beats of the DS1 records (PROVENANCE.md of the MIT-BIH copy)
# fmt: off
DS1_SV = {
    "101": (3, 0), "106": (0, 520), "108": (4, 17), "109": (0, 38), "112": (2, 0), "114": (12, 43),
    "115": (0, 0), "116": (1, 109), "118": (96, 16), "119": (0, 444), "122": (0, 0), "124": (31, 47),
    "201": (128, 198), "203": (2, 444), "205": (3, 71), "207": (107, 210), "208": (2, 992), "209": (383, 1),
    "215": (3, 164), "220": (94, 0), "223": (73, 473), "230": (0, 1),
}
# fmt: on


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("k", [3, 5])
def test_folds_deal_every_ds1_record_once_and_spread_s_and_v_rich_records(seed, k):
    folds = deal_folds(DS1_SV, k, seed)
    assert sorted(folds) == sorted(DS1) and set(folds.values()) == set(range(k))
    sizes = np.bincount(list(folds.values()))
    assert sizes.max() - sizes.min() <= 1
    for col in (0, 1):  # the k S-richest records in k folds, likewise V
        richest = sorted(DS1_SV, key=lambda r: -DS1_SV[r][col])[:k]
        assert len({folds[r] for r in richest}) == k, richest
    assert deal_folds(DS1_SV, k, seed) == folds


def test_fold_groups_put_one_fold_in_val_and_never_a_ds2_record():
    seen: list[str] = []
    for fold in range(5):
        groups = fold_groups(DS1_SV, 5, fold, seed=0)
        val = [r for r, s in groups.items() if s == "val"]
        assert set(groups.values()) == {"train", "val"} and not set(val) & set(DS2)
        seen += val
    assert sorted(seen) == sorted(DS1)  # each record is val in exactly one fold
    with pytest.raises(SigattnError, match="DS1 records only; got 100"):
        fold_groups({**DS1_SV, "100": (33, 1)}, 5, 0, seed=0)
    with pytest.raises(SigattnError, match="data.split.folds must be between 2 and 22"):
        deal_folds(DS1_SV, 23, 0)


def test_beat_counts_per_record():
    w = Windows(
        x=np.zeros((5, 1, 4), np.float32), y=np.array([0, 1, 2, 2, 1]), classes=("N", "S", "V", "F", "Q"),
        groups=np.array(["a", "a", "a", "b", "b"]), sources=np.array(["a"] * 3 + ["b"] * 2),
        starts=np.zeros(5, np.int64), fs=360.0,
    )  # fmt: skip
    assert beat_counts(w) == {"a": (1, 1), "b": (1, 1)}


def test_fold_keys_are_checked():
    assert SplitConfig(strategy="inter-patient", folds=5, fold=4).fold == 4
    with pytest.raises(SigattnError, match="data.split.folds needs strategy 'inter-patient'"):
        SplitConfig(strategy="by-group", folds=5)
    with pytest.raises(SigattnError, match="data.split.fold must be below split.folds; got fold 5, folds 5"):
        SplitConfig(strategy="inter-patient", folds=5, fold=5)
    with pytest.raises(SigattnError, match="data.split.fold must be below split.folds; got fold 1, folds None"):
        SplitConfig(strategy="inter-patient", fold=1)


@pytest.mark.realdata
def test_mitdb_fold_split_holds_out_one_ds1_fold(real_data_dir, tmp_path, monkeypatch):
    from sigattn.config import DataConfig
    from sigattn.data.prepare import prepare

    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    split = {"folds": 5, "fold": 2, "seed": 0}
    p = prepare(DataConfig(dataset="mitdb", data_dir=str(real_data_dir), split=split, cache=False))
    val, train = set(p.splits["val"].groups.tolist()), set(p.splits["train"].groups.tolist())
    assert val == {r for r, f in deal_folds(DS1_SV, 5, 0).items() if f == 2}
    assert train == set(DS1) - val and set(p.splits["test"].groups.tolist()) == set(DS2)
