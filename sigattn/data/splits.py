"""Split strategies (segment, by-group, inter-patient, random) and the leakage audit.

`segment` cuts every recording into contiguous train/val/test blocks separated by a guard gap
before windowing; `by-group` and `inter-patient` keep whole groups (recordings, patients) in one
split; `random` shuffles windows and leaks when windows overlap, so it needs `allow_random`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from sigattn.config import SplitConfig, WindowConfig
from sigattn.data.types import SPLITS, Recording, Windows
from sigattn.data.windows import take, window_spans
from sigattn.errors import SigattnError

# MIT-BIH inter-patient division (de Chazal et al., 2004); paced records are left out.
# fmt: off
DS1: tuple[str, ...] = (
    "101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
    "124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230",
)
DS2: tuple[str, ...] = (
    "100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210",
    "212", "213", "214", "219", "221", "222", "228", "231", "232", "233", "234",
)
# fmt: on
PACED: tuple[str, ...] = ("102", "104", "107", "217")


def _counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Items per split for `n` items: at least one in each split when n >= number of splits."""
    k = len(fractions)
    if n < k:
        return [n] + [0] * (k - 1)
    rest = [max(1, round(n * f)) for f in fractions[1:]]
    while sum(rest) > n - 1:
        rest[int(np.argmax(rest))] -= 1
    return [n - sum(rest), *rest]


def segment_spans(n_samples: int, fractions: Sequence[float], guard: int, length: int, source: str) -> list:
    """(split, start, stop) blocks of one recording: train | guard | val | guard | test."""
    usable = n_samples - guard * (len(fractions) - 1)
    sizes = [int(usable * f) for f in fractions]
    if usable <= 0 or min(sizes) < length:
        need = int(np.ceil(length / min(fractions))) + guard * (len(fractions) - 1)
        raise SigattnError(
            f"{source}: {n_samples} samples is too short for a segment split with window {length} and "
            f"guard {guard}; needs at least {need} samples (or use split.strategy 'by-group')"
        )
    spans, start = [], 0
    for name, size in zip(SPLITS, sizes, strict=True):
        spans.append((name, start, start + size))
        start += size + guard
    return spans


def assign_groups(labels_by_group: Mapping[str, str], fractions: Sequence[float], seed: int) -> dict[str, str]:
    """Deterministic group -> split, stratified by each group's label so every class is in every split."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[str]] = {}
    for group in sorted(labels_by_group):
        by_label.setdefault(labels_by_group[group], []).append(group)
    out: dict[str, str] = {}
    for label in sorted(by_label):
        groups = [by_label[label][i] for i in rng.permutation(len(by_label[label]))]
        bounds = np.cumsum([0, *_counts(len(groups), fractions)])
        for name, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:], strict=True):
            out.update({g: name for g in groups[lo:hi]})
    return out


def explicit_groups(mapping: Mapping[str, Sequence[str]], present: Sequence[str]) -> dict[str, str]:
    """Group -> split from `{"train": [...], ...}`; every present group must be listed exactly once."""
    out: dict[str, str] = {}
    for name, groups in mapping.items():
        for g in groups:
            if g in out:
                raise SigattnError(f"split.groups lists group {g!r} in both {out[g]!r} and {name!r}")
            out[g] = name
    missing = sorted(set(present) - set(out))
    if missing:
        raise SigattnError(f"split.groups does not place group(s) {', '.join(missing[:5])}; list each in one split")
    return out


def inter_patient_groups(records: Sequence[str], val_fraction: float, seed: int) -> dict[str, str]:
    """Record -> split: DS2 to test, DS1 to train with a seeded few DS1 records held out for val."""
    unknown = sorted(set(records) - set(DS1) - set(DS2))
    if unknown:
        raise SigattnError(f"inter-patient split: record(s) {', '.join(unknown[:5])} are in neither DS1 nor DS2")
    ds1 = sorted(r for r in records if r in DS1)
    n_val = max(1, round(len(ds1) * val_fraction)) if len(ds1) > 1 else 0
    val = {ds1[i] for i in np.random.default_rng(seed).permutation(len(ds1))[:n_val]}
    return {r: ("test" if r in DS2 else "val" if r in val else "train") for r in records}


def split_windows_by_group(w: Windows, group_split: Mapping[str, str]) -> dict[str, Windows]:
    """Windows of each split according to their group."""
    missing = sorted(set(w.groups.tolist()) - set(group_split))
    if missing:
        raise SigattnError(f"no split assigned to group(s) {', '.join(missing[:5])}")
    names = np.array([group_split[g] for g in w.groups.tolist()], dtype=str)
    return {name: take(w, names == name) for name in SPLITS}


def split_random(w: Windows, fractions: Sequence[float], seed: int, allow_random: bool) -> dict[str, Windows]:
    """Windows shuffled into splits: leaks when windows overlap, so it must be asked for."""
    if not allow_random:
        raise SigattnError(
            "split.strategy 'random' leaks overlapping windows across splits; set split.allow_random: true "
            "to use it anyway, or choose 'segment' or 'by-group'"
        )
    warnings.warn(
        "random split: overlapping windows of one recording land in different splits and leak",
        UserWarning,
        stacklevel=2,
    )
    order = np.random.default_rng(seed).permutation(len(w))
    bounds = np.cumsum([0, *_counts(len(w), fractions)])
    return {name: take(w, np.sort(order[lo:hi])) for name, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:], strict=True)}


def _segment_spans(
    recordings: Sequence[Recording], indices: Sequence[int], split: SplitConfig, length: int
) -> dict[str, list[tuple[int, int, int]]]:
    """(recording, start, stop) blocks per split for the recordings at `indices`, cut by segment."""
    guard = length if split.guard is None else split.guard
    if guard < length:
        raise SigattnError(f"split.guard must be at least the window length {length}; got {guard}")
    spans: dict[str, list[tuple[int, int, int]]] = {name: [] for name in SPLITS}
    for i in indices:
        rec = recordings[i]
        for name, lo, hi in segment_spans(rec.signal.shape[-1], split.fractions, guard, length, rec.source):
            spans[name].append((i, lo, hi))
    return spans


def _group_split(recordings: Sequence[Recording], groups: Sequence[str], split: SplitConfig) -> dict[str, str]:
    """Group -> split for the whole groups of an inter-patient or by-group split."""
    if split.strategy == "inter-patient":
        return inter_patient_groups(groups, split.fractions[1], split.seed)
    if split.groups:
        return explicit_groups(split.groups, groups)
    labels: dict[str, Counter] = {}
    for rec in recordings:
        if rec.group in groups:
            labels.setdefault(rec.group, Counter())[rec.label] += 1
    return assign_groups({g: c.most_common(1)[0][0] for g, c in labels.items()}, split.fractions, split.seed)


def _present_groups(names: Sequence[str], recordings: Sequence[Recording], key: str) -> set[str]:
    """`names` as a set, refused with a one-line error if the recordings lack any of them."""
    absent = sorted(set(names) - {rec.group for rec in recordings})
    if absent:
        raise SigattnError(f"{key} names group(s) {', '.join(absent[:5])} that the data does not have")
    return set(names)


def make_splits(
    recordings: Sequence[Recording], split: SplitConfig, window: WindowConfig, classes: Sequence[str]
) -> dict[str, Windows]:
    """Cut `recordings` into train/val/test windows with the configured strategy."""
    length = window.length
    if split.strategy == "segment":
        spans = _segment_spans(recordings, range(len(recordings)), split, length)
        return {name: window_spans(recordings, spans[name], length, window.stride_of(name), classes) for name in SPLITS}
    if split.strategy == "random":
        if window.train_stride:
            raise SigattnError("data.window.train_stride needs split.strategy segment or by-group, not 'random'")
        whole = [(i, 0, rec.signal.shape[-1]) for i, rec in enumerate(recordings)]
        return split_random(window_spans(recordings, whole, length, window.stride, classes), split.fractions,
                            split.seed, split.allow_random)  # fmt: skip
    excluded = _present_groups(split.exclude, recordings, "split.exclude")
    recordings = [rec for rec in recordings if rec.group not in excluded]
    whole = [(i, 0, rec.signal.shape[-1]) for i, rec in enumerate(recordings)]
    cut = _present_groups(split.segment_groups, recordings, "split.segment_groups")
    spans = _segment_spans(recordings, [i for i, rec in enumerate(recordings) if rec.group in cut], split, length)
    groups = sorted({rec.group for rec in recordings} - cut)
    group_split = _group_split(recordings, groups, split) if groups else {}
    out = {}
    for name in SPLITS:
        chosen = spans[name] + [s for s in whole if group_split.get(recordings[s[0]].group) == name]
        if not chosen:
            raise SigattnError(f"split {name!r} received no groups; need more groups or other split.fractions")
        out[name] = window_spans(recordings, sorted(chosen), length, window.stride_of(name), classes)
    return out


_GROUP_STRATEGIES = ("by-group", "inter-patient")
_MAX_PROBLEMS = 20


@dataclass(frozen=True)
class AuditResult:
    """Outcome of the leakage audit: `ok` iff `problems` is empty."""

    ok: bool
    strategy: str
    problems: list[str] = field(default_factory=list)
    windows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "strategy": self.strategy,
            "problems": list(self.problems),
            "windows": self.windows,
        }


def _overlaps(splits: Mapping[str, Windows], window_length: int) -> list[str]:
    """Recordings whose sample intervals appear in windows of two splits (sort + running max end)."""
    names = list(splits)
    sources = np.concatenate([np.asarray(w.sources, dtype=str) for w in splits.values()])
    starts = np.concatenate([np.asarray(w.starts, dtype=np.int64) for w in splits.values()])
    label = np.concatenate([np.full(len(w), k, dtype=np.int64) for k, w in enumerate(splits.values())])
    if len(starts) == 0:
        return []
    src_names, src = np.unique(sources, return_inverse=True)
    order = np.lexsort((starts, src))
    src, starts, label = src[order], starts[order], label[order]
    cuts = np.flatnonzero(np.diff(src)) + 1
    floor = np.iinfo(np.int64).min
    problems = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(src)], strict=True):
        k, s = label[lo:hi], starts[lo:hi]
        if k.min() == k.max():
            continue
        for j in np.unique(k):
            # Sorted by start, an earlier window of split j overlaps window i iff its end > start_i.
            ends = np.maximum.accumulate(np.where(k == j, s + window_length, floor))
            prev = np.r_[floor, ends[:-1]]
            bad = (k != j) & (prev > s)
            if bad.any():
                others = ", ".join(sorted({names[i] for i in k[bad]}))
                problems.append(
                    f"recording {src_names[src[lo]]}: {int(bad.sum())} window(s) of {others} overlap "
                    f"{names[j]} windows (first at sample {int(s[bad][0])})"
                )
    return problems


def _group_crossings(splits: Mapping[str, Windows], strategy: str, segmented: Sequence[str]) -> list[str]:
    where: dict[str, set[str]] = {}
    for name, w in splits.items():
        for g in np.unique(np.asarray(w.groups, dtype=str)).tolist():
            if g not in segmented:
                where.setdefault(g, set()).add(name)
    problems = [
        f"group {g} is in several splits: {', '.join(sorted(s))}" for g, s in sorted(where.items()) if len(s) > 1
    ]
    if strategy == "inter-patient":
        for g, s in sorted(where.items()):
            if "test" in s and g not in DS2:
                problems.append(f"record {g} is in test but not in DS2")
            if s - {"test"} and g not in DS1:
                problems.append(f"record {g} is in {', '.join(sorted(s - {'test'}))} but not in DS1")
    return problems


def audit(
    splits: Mapping[str, Windows], strategy: str, window_length: int, segmented: Sequence[str] = ()
) -> AuditResult:
    """Prove no sample of any recording is in windows of two splits, and (for by-group and
    inter-patient) that no group crosses splits except the `segmented` ones (split.segment_groups,
    whose segments the sample check covers). `window_length` is in samples of `starts`."""
    if isinstance(window_length, bool) or not isinstance(window_length, (int, np.integer)) or window_length < 1:
        raise SigattnError(f"audit window_length must be a positive integer; got {window_length!r}")
    problems = _overlaps(splits, int(window_length))
    if strategy in _GROUP_STRATEGIES:
        problems += _group_crossings(splits, strategy, segmented)
    if len(problems) > _MAX_PROBLEMS:
        problems = problems[:_MAX_PROBLEMS] + [f"... and {len(problems) - _MAX_PROBLEMS} more"]
    windows = {name: len(w) for name, w in splits.items()}
    return AuditResult(ok=not problems, strategy=strategy, problems=problems, windows=windows)
