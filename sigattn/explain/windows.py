"""What a trained model attends to, for chosen windows: overlay plots, raw maps and scores."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from sigattn.explain.capture import StageAttention, collect_attention
from sigattn.explain.figures import overlay_figure
from sigattn.errors import SigattnError
from sigattn.outputs import write_atomically
from sigattn.evaluate.predict import predict_proba


@dataclass(frozen=True)
class Selection:
    """Which windows to draw: a class name (true class if labelled, else predicted), how many per
    class, and which stage (None: all stages with a temporal map)."""

    class_name: str | None = None
    limit: int = 4
    stage: int | None = None


def _chosen(labels: np.ndarray, classes: list[str], selection: Selection) -> np.ndarray:
    if selection.class_name is not None and selection.class_name not in classes:
        raise SigattnError(f"--class {selection.class_name!r} is not a class of this model; expected one of {classes}")
    wanted = [classes.index(selection.class_name)] if selection.class_name else range(len(classes))
    picks = [np.flatnonzero(labels == c)[: selection.limit] for c in wanted]
    return np.sort(np.concatenate(picks)) if picks else np.array([], dtype=int)


def _stages(attention: list[StageAttention], stage: int | None) -> list[StageAttention]:
    timed = [sa for sa in attention if sa.temporal is not None]
    if stage is not None:
        timed = [sa for sa in timed if sa.stage == stage]
        if not timed:
            having = sorted(sa.stage for sa in attention if sa.temporal is not None)
            raise SigattnError(f"--stage {stage} has no temporal attention map; stages with one: {having}")
    return timed


def explain_windows(
    model: nn.Module,
    x: np.ndarray,
    labels: np.ndarray | None,
    names: list[str],
    meta: dict[str, Any],
    out_dir: Path,
    selection: Selection,
    *,
    title: str,
) -> list[Path]:
    """Write an overlay PNG per selected window and `maps.json` with its raw maps; return the paths.

    `labels` are true class indices (None: use the model's predictions); `names` label each window
    in titles and file names (e.g. "file.npy@1024").
    """
    classes = list(meta["classes"])
    probs = predict_proba(model, x)
    predicted = probs.argmax(axis=1)
    chosen = _chosen(predicted if labels is None else labels, classes, selection)
    if len(chosen) == 0:
        raise SigattnError(f"no window matches --class {selection.class_name!r}; nothing to explain")
    attention = collect_attention(model, x[chosen])
    if not attention:
        raise SigattnError("the model has no attention gates (block 'none'): nothing to explain")
    timed = _stages(attention, selection.stage)
    length, fs = x.shape[-1], float(meta["fs"])
    on_input = {sa.name: sa.temporal_on_input(length) for sa in timed}
    out_dir.mkdir(parents=True, exist_ok=True)
    written, records = [], []
    for row, index in enumerate(chosen):
        truth = "" if labels is None else f"true {classes[labels[index]]}, "
        guess = classes[predicted[index]]
        record: dict[str, Any] = {"window": names[index], "predicted": guess, "probabilities": probs[index].tolist()}
        if labels is not None:
            record["true"] = classes[labels[index]]
        record["stages"] = {
            sa.name: {
                "stage": sa.stage,
                "channel_gate": None if sa.channel is None else np.round(sa.channel[row], 5).tolist(),
                "temporal_on_input": np.round(on_input[sa.name][row], 5).tolist() if sa.name in on_input else None,
            }
            for sa in attention
            if selection.stage is None or sa.stage == selection.stage
        }
        records.append(record)
        if timed:
            panels = [
                (f"stage {sa.stage} ({sa.name}, RF {sa.receptive_field} samples)", on_input[sa.name][row],
                 sa.temporal_kind or "sigmoid")
                for sa in timed
            ]  # fmt: skip
            heading = f"{title}: {names[index]} ({truth}predicted {guess}, p={probs[index].max():.2f})"
            buffer = io.BytesIO()
            overlay_figure(x[index], fs, panels, heading).savefig(buffer, format="png")
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{row:03d}_{guess}_{names[index]}")
            path = out_dir / f"{safe}.png"
            write_atomically(path, buffer.getvalue())
            written.append(path)
    maps = out_dir / "maps.json"
    write_atomically(maps, json.dumps({"title": title, "fs": fs, "windows": records}) + "\n")
    return [*written, maps]
