"""What a trained model attends to, for chosen windows: one overlay plot per window, and raw maps.

Stages with a temporal map (CBAM, GC, CA) are drawn as colour strips over the signal, beside an
Integrated Gradients strip of the same window; stages whose only gate is per channel (SE, ECA) as
bars of their channel gates below. Every map states its deletion drop. Block `none` gets IG alone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from sigattn.errors import SigattnError
from sigattn.evaluate.predict import predict_proba
from sigattn.explain.axis import input_axis
from sigattn.explain.capture import StageAttention, collect_attention, temporal_stages
from sigattn.explain.window_panels import window_figures
from sigattn.models.meta import ModelMeta
from sigattn.outputs import write_atomically


@dataclass(frozen=True)
class Selection:
    """Which windows to draw: a class name (true class if labelled, else predicted), how many per
    class, and which stage (None: every stage with gates)."""

    class_name: str | None = None
    limit: int = 4
    stage: int | None = None


def _chosen(labels: np.ndarray, classes: list[str], selection: Selection) -> np.ndarray:
    if selection.class_name is not None and selection.class_name not in classes:
        raise SigattnError(f"--class {selection.class_name!r} is not a class of this model; expected one of {classes}")
    wanted = [classes.index(selection.class_name)] if selection.class_name else range(len(classes))
    picks = [np.flatnonzero(labels == c)[: selection.limit] for c in wanted]
    return np.sort(np.concatenate(picks)) if picks else np.array([], dtype=int)


@dataclass(frozen=True)
class Written:
    """The files `explain_windows` wrote: one overlay PNG per window, and maps.json."""

    overlays: list[Path]
    maps: Path


def _stages(attention: list[StageAttention], stage: int | None) -> list[StageAttention]:
    """The gated stages to draw: all of them, or the one `--stage` picks."""
    if stage is None:
        return attention
    picked = [sa for sa in attention if sa.stage == stage]
    if not picked:
        having = [sa.stage for sa in attention]
        raise SigattnError(f"--stage {stage} has no attention gates; stages with gates: {having}")
    return picked


def _save(figure: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomically(path, buffer.getvalue())
    return path


def explain_windows(
    model: nn.Module,
    x: np.ndarray,
    labels: np.ndarray | None,
    names: list[str],
    meta: ModelMeta,
    out_dir: Path,
    selection: Selection,
    *,
    title: str,
    block: str,
    side: np.ndarray | None = None,
    run_scores: Mapping[str, float] | None = None,
) -> Written:
    """Per selected window, one overlay PNG: the attention views of the drawn stages (most faithful
    first), Integrated Gradients for the predicted class on the same axis (time, or frequency for a
    spectrum input: `sigattn.explain.axis`), the channel gates of channel-only stages, and each
    map's deletion drop (`sigattn.explain.window_panels`); then `maps.json` with every drawn
    stage's raw maps and the drops.

    `labels` are true class indices (None: use the model's predictions); `names` label each window
    in titles and file names (e.g. "file.npy@1024"); `title` names the model and `block` its block(s);
    `side` holds the windows' side features for a model that reads them; `run_scores`
    (interpretability metrics) add the run's deletion drops and order the views by them.
    """
    classes = list(meta.classes)
    probs = predict_proba(model, x, side=side)
    predicted = probs.argmax(axis=1)
    chosen = _chosen(predicted if labels is None else labels, classes, selection)
    if len(chosen) == 0:
        raise SigattnError(f"no window matches --class {selection.class_name!r}; nothing to explain")
    chosen_side = None if side is None else side[chosen]
    drawn = _stages(collect_attention(model, x[chosen], side=chosen_side), selection.stage)
    length = x.shape[-1]
    on_input = {sa.name: sa.temporal_on_input(length) for sa in temporal_stages(drawn)}
    headings, records = [], []
    for row, index in enumerate(chosen):
        truth = "" if labels is None else f"true {classes[labels[index]]}, "
        headings.append(f"{title} ({block}): {names[index]} ({truth}predicted {classes[predicted[index]]}, "
                        f"p={probs[index].max():.2f})")  # fmt: skip
        record: dict[str, Any] = {"window": names[index], "predicted": classes[predicted[index]],
                                  "probabilities": probs[index].tolist()}  # fmt: skip
        if labels is not None:
            record["true"] = classes[labels[index]]
        record["stages"] = {
            sa.name: {
                "stage": sa.stage,
                "channel_gate": None if sa.channel is None else np.round(sa.channel[row], 5).tolist(),
                "temporal_on_input": np.round(on_input[sa.name][row], 5).tolist() if sa.name in on_input else None,
            }
            for sa in drawn
        }
        records.append(record)
    made = window_figures(model, x[chosen], drawn, predicted[chosen], headings, classes,
                          axis=input_axis(meta.transforms, meta.fs, meta.window_length),
                          side=chosen_side, run_scores=run_scores)  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    overlays = []
    for row, (record, (figure, drops)) in enumerate(zip(records, made, strict=True)):
        record["deletion_p_drop"] = {name: round(d, 5) for name, d in drops.items()}
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{row:03d}_{record['predicted']}_"
                       f"{record['window']}")  # fmt: skip
        overlays.append(_save(figure, out_dir / f"{safe}.png"))
    maps = out_dir / "maps.json"
    write_atomically(maps, json.dumps({"title": title, "fs": meta.fs, "windows": records}) + "\n")
    return Written(overlays, maps)
