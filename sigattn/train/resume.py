"""What resuming needs: every random state, as data a checkpoint can hold, and a check that the
last checkpoint belongs to the run being resumed."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from sigattn.config import TrainConfig
from sigattn.errors import SigattnError
from sigattn.models.meta import ModelMeta


def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Python, numpy, torch (and CUDA) RNG states, plus `generator`'s, as tensors and plain data."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt), gauss],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore what `rng_state` captured."""
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    n = state["numpy"]
    keys = n["keys"].cpu().numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"].cpu())


def check_resume(resume: dict[str, Any], meta: ModelMeta, t: TrainConfig) -> None:
    """Refuse a last checkpoint whose model, data shape or onecycle length differ from this run's."""
    where = resume.get("path", "the resume checkpoint")
    keys = ("model", "classes", "in_channels", "side_features", "window_length", "window_stride", "transforms")
    for key in keys:
        theirs, ours = getattr(resume["meta"], key), getattr(meta, key)
        if theirs != ours:
            raise SigattnError(f"cannot resume from {where}: its {key} {theirs!r} differs from {ours!r}")
    if t.schedule == "onecycle" and resume.get("train_epochs") != t.epochs:
        raise SigattnError(
            f"cannot resume from {where} with schedule onecycle: train.epochs must stay {resume.get('train_epochs')}"
        )
