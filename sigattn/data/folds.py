"""Leave-records-out folds of MIT-BIH DS1 for model selection (`data.split.folds`/`fold`).

DS1 records are dealt into K folds, whole. Records are stratified by their S and V beat counts:
each goes to the stratum of the class it holds the larger share of (S, V, or N when it has
neither), and each stratum, richest record first, is dealt in rounds of K, one record per fold:
the next record of a round takes the free fold holding the fewest beats of that class so far
(counting every record dealt), ties going to a `seed`ed order of the folds; a last, short round
fills the smallest folds first. So the K S-richest records land in K different folds, likewise
for V, and fold sizes differ by at most one. DS2 is never dealt: it stays test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sigattn.data.splits import DS1
from sigattn.data.types import Windows
from sigattn.errors import SigattnError

STRATA: tuple[str, ...] = ("S", "V")  # the rare beat classes the folds spread


def beat_counts(w: Windows, classes: Sequence[str] = STRATA) -> dict[str, tuple[int, ...]]:
    """Windows of each of `classes` per group (record); a class the windows lack counts 0."""
    cols = [w.classes.index(c) if c in w.classes else -1 for c in classes]
    return {
        g: tuple(int(np.count_nonzero(w.y[w.groups == g] == c)) if c >= 0 else 0 for c in cols)
        for g in sorted(set(w.groups.tolist()))
    }


def _pick(free: set[int], load: np.ndarray, size: np.ndarray, rank: np.ndarray, *, short: bool) -> int:
    """The free fold with the least `load` (a short round: the fewest records first), ties by `rank`."""
    if short:
        return min(free, key=lambda f: (size[f], load[f], rank[f]))
    return min(free, key=lambda f: (load[f], size[f], rank[f]))


def deal_folds(counts: Mapping[str, Sequence[int]], folds: int, seed: int) -> dict[str, int]:
    """Record -> fold (0 .. folds-1), stratified by `counts` (per record, one count per class)."""
    records = sorted(counts)
    if not 2 <= folds <= len(records):
        raise SigattnError(f"data.split.folds must be between 2 and {len(records)} (the records); got {folds}")
    table = np.array([counts[r] for r in records], dtype=float)
    share = table / np.maximum(table.sum(axis=0), 1)
    rng = np.random.default_rng(seed)
    rank = rng.permutation(folds)  # breaks ties between folds
    stratum = np.where(table.sum(axis=1) > 0, share.argmax(axis=1), table.shape[1])
    load, size = np.zeros((folds, table.shape[1] + 1)), np.zeros(folds, dtype=int)
    out: dict[str, int] = {}
    for s in range(table.shape[1] + 1):
        members = [i for i in rng.permutation(len(records)) if stratum[i] == s]
        members.sort(key=lambda i: -table[i, s] if s < table.shape[1] else 0)
        for start in range(0, len(members), folds):
            chunk, free = members[start : start + folds], set(range(folds))
            for i in chunk:
                fold = _pick(free, load[:, s], size, rank, short=len(chunk) < folds)
                free.discard(fold)
                out[records[i]], size[fold] = fold, size[fold] + 1
                load[fold] += [*table[i], 1]
    return out


def fold_groups(counts: Mapping[str, Sequence[int]], folds: int, fold: int, seed: int) -> dict[str, str]:
    """DS1 record -> "val" (fold `fold`) or "train" (the other folds)."""
    unknown = sorted(set(counts) - set(DS1))
    if unknown:
        raise SigattnError(f"data.split.folds deals DS1 records only; got {', '.join(unknown[:5])}")
    return {r: "val" if f == fold else "train" for r, f in deal_folds(counts, folds, seed).items()}
