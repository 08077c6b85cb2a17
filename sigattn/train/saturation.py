"""Whether the val split could choose the best epoch.

A score monitor (accuracy, macro-F1, balanced accuracy) that reaches its perfect value, 1.0,
cannot rank that epoch against later ones: the first perfect epoch is kept whatever follows. Such
a val split is saturated, and settings chosen on it are not chosen at all; a harder val split
(another load, another defect size, other records) can choose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

PERFECT = 1.0


def _perfect_epochs(history: Sequence[Mapping[str, float]], monitor: str) -> list[int]:
    """The epochs in which a score monitor reached its perfect value (none for the loss)."""
    return [] if monitor == "val_loss" else [int(r["epoch"]) for r in history if r.get(monitor, 0.0) >= PERFECT]


def saturated(history: Sequence[Mapping[str, float]], monitor: str) -> bool:
    """True when a score monitor reached its perfect value in some epoch of `history`."""
    return bool(_perfect_epochs(history, monitor))


def saturation_note(history: Sequence[Mapping[str, float]], monitor: str) -> str | None:
    """A one-line note when the val split was saturated, else None."""
    epochs = _perfect_epochs(history, monitor)
    if not epochs:
        return None
    return (
        f"validation saturated: {monitor} = 1 at epoch {epochs[0]} ({len(epochs)} of {len(history)} epochs), so "
        "it could not choose the epoch (the first perfect one is kept); validate on a harder split, e.g. another "
        "load, defect size or set of records"
    )
