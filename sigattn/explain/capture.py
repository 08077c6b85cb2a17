"""Attention maps of a trained model, per block, placed on the input's time axis.

`collect_attention(model, x)` runs `x` (N, C, L) through `model` with `capture_gates` and returns
one `StageAttention` per attention block that has a gate, in network order. Blocks without gates
("none", or GC with average pooling and only channel_add) are skipped; `stage` keeps each block's
index among all attention blocks, so a skipped block leaves a gap. Where a temporal position sits on
the input comes from the backbone's `attention_geometry(length)`, derived from the kernel, stride
and padding of every conv and pool before the block (`sigattn.models.layers.Field`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sigattn.blocks import BLOCKS, Gate, capture_gates
from sigattn.errors import SigattnError


@dataclass(frozen=True)
class StageAttention:
    """One attention block's maps for N windows.

    `channel` (N, C) and `temporal` (N, L_stage) are None where the block has no such gate; CA's
    per-channel temporal gate is averaged over channels. `centers` (L_stage,) gives the input
    sample at the centre of each temporal position's receptive field of `receptive_field` samples.
    `temporal_kind` is "sigmoid" (weights in 0-1) or "softmax" (weights sum to 1 over time).
    """

    name: str
    stage: int
    channel: np.ndarray | None
    temporal: np.ndarray | None
    centers: np.ndarray
    receptive_field: int
    temporal_kind: str | None = None

    def temporal_on_input(self, length: int) -> np.ndarray:
        """(N, length): the temporal map linearly interpolated over `centers` onto input samples
        0..length-1, edge values held."""
        if self.temporal is None:
            raise SigattnError(f"attention block {self.name!r} has no temporal map; only a channel gate")
        position = np.interp(np.arange(length, dtype=np.float64), self.centers, np.arange(len(self.centers)))
        lo = np.floor(position).astype(np.int64)
        hi = np.minimum(lo + 1, len(self.centers) - 1)
        weight = (position - lo).astype(self.temporal.dtype)
        return self.temporal[:, lo] * (1 - weight) + self.temporal[:, hi] * weight


def temporal_stages(attention: list[StageAttention]) -> list[StageAttention]:
    """The stages whose block has a temporal map."""
    return [sa for sa in attention if sa.temporal is not None]


def attention_blocks(model: nn.Module) -> list[str]:
    """Module paths of every attention block (a registered block class) in network order."""
    kinds = tuple(BLOCKS.values())
    return [name for name, module in model.named_modules() if isinstance(module, kinds)]


def collect_attention(
    model: nn.Module, x: np.ndarray, *, side: np.ndarray | None = None, batch_size: int = 256
) -> list[StageAttention]:
    """The attention maps of `model` on windows `x` (N, C, L) float32 (and side features `side` (N, F)
    for models that read them), one entry per gated block.

    Runs in eval mode under `torch.inference_mode` in batches (the model's mode is restored
    after); outputs are unchanged, as the gates are read by forward hooks.
    """
    x = np.asarray(x)
    if x.ndim != 3 or len(x) == 0:
        raise SigattnError(f"collect_attention needs windows of shape (N, C, L) with N >= 1; got {x.shape}")
    geometry_of = getattr(model, "attention_geometry", None)
    if geometry_of is None:
        raise SigattnError(
            f"collect_attention needs a backbone with attention_geometry(length); got {type(model).__name__}"
        )
    blocks = attention_blocks(model)
    geometry = geometry_of(x.shape[-1])
    if len(geometry) != len(blocks):
        raise SigattnError(f"{type(model).__name__}: {len(blocks)} attention blocks but {len(geometry)} geometries")
    gates = {name: module for name, module in model.named_modules() if isinstance(module, Gate)}
    device = next(model.parameters()).device
    parts: dict[str, list[np.ndarray]] = {name: [] for name in gates}
    training = model.training
    model.eval()
    try:
        with torch.inference_mode(), capture_gates(model) as captured:
            for start in range(0, len(x), batch_size):
                rows = slice(start, start + batch_size)
                inputs = [np.ascontiguousarray(a[rows], dtype=np.float32) for a in (x, side) if a is not None]
                model(*(torch.from_numpy(a).to(device) for a in inputs))
                for name in gates:
                    parts[name].append(captured[name].float().cpu().numpy())
    finally:
        model.train(training)
    out = []
    for stage, (block, (centers, field)) in enumerate(zip(blocks, geometry, strict=True)):
        found = {"channel": None, "temporal": None}
        kind = None
        for name, gate in gates.items():
            if name.startswith(block + "."):
                found[gate.role] = np.concatenate(parts[name])
                kind = gate.kind if gate.role == "temporal" else kind
        if found["channel"] is None and found["temporal"] is None:
            continue
        if found["temporal"] is not None and found["temporal"].shape[1] != len(centers):
            raise SigattnError(f"{block}: temporal map has {found['temporal'].shape[1]} steps, geometry {len(centers)}")
        out.append(StageAttention(block, stage, found["channel"], found["temporal"], centers, field, kind))
    return out
