"""Model outputs on windows: class probabilities, and metrics of a labelled split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sigattn.data.types import Windows
from sigattn.device import autocast
from sigattn.errors import SigattnError
from sigattn.evaluate.metrics import RECORD_CLASSES, classification_metrics, per_record_sensitivity


def _tensor(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)


def _logits(
    model: nn.Module, x: np.ndarray, side: np.ndarray | None, batch_size: int, device: torch.device, precision: str
) -> torch.Tensor:
    model.eval()
    parts = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            rows = slice(start, start + batch_size)
            inputs = [_tensor(a[rows], device) for a in (x, side) if a is not None]
            with autocast(device, precision):
                parts.append(model(*inputs).float().cpu())
    return torch.cat(parts)


def _device_of(model: nn.Module, device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else next(model.parameters()).device


def predict_proba(
    model: nn.Module,
    x: np.ndarray,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    *,
    side: np.ndarray | None = None,
    precision: str = "fp32",
) -> np.ndarray:
    """Class probabilities (N, K) float32 for windows `x` (N, C, L) and, for models that read them,
    side features `side` (N, F); puts `model` in eval mode."""
    if len(x) == 0:
        raise SigattnError("predict_proba needs at least one window; got none")
    return _logits(model, x, side, batch_size, _device_of(model, device), precision).softmax(-1).numpy()


def evaluate(
    model: nn.Module,
    windows: Windows,
    *,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    precision: str = "fp32",
    ecg: bool = False,
    per_record: bool = True,
) -> tuple[dict[str, Any], np.ndarray]:
    """(classification metrics plus mean cross-entropy `loss`, probabilities (N, K)).

    `ecg` adds per-class sensitivity and positive predictivity (ECG beat datasets: `DataConfig.ecg`)
    and, with `per_record` and windows that carry groups (records), `per_record`: the S and V
    sensitivity of each record (`per_record_sensitivity`). The loop's per-epoch check turns it off.
    """
    if len(windows) == 0:
        raise SigattnError("evaluate needs at least one window; the split is empty")
    logits = _logits(model, windows.x, windows.side, batch_size, _device_of(model, device), precision)
    loss = F.cross_entropy(logits, torch.from_numpy(windows.y.astype(np.int64))).item()
    metrics = window_metrics(windows, logits.argmax(-1).numpy(), ecg=ecg, per_record=per_record)
    return {"loss": loss, **metrics}, logits.softmax(-1).numpy()


def window_metrics(windows: Windows, predicted: np.ndarray, *, ecg: bool, per_record: bool = True) -> dict[str, Any]:
    """`classification_metrics` of `predicted` class indices against `windows`, plus (see `evaluate`)
    `per_record` for ECG windows that carry records."""
    metrics = classification_metrics(windows.y, predicted, windows.classes, ecg=ecg)
    if ecg and per_record and windows.groups is not None:
        of = [c for c in RECORD_CLASSES if c in windows.classes]
        metrics["per_record"] = per_record_sensitivity(windows.y, predicted, windows.groups, windows.classes, of)
    return metrics


def evaluate_ensemble(
    members: Sequence[tuple[nn.Module, Windows]], *, batch_size: int = 1024, ecg: bool = False
) -> tuple[dict[str, Any], np.ndarray]:
    """`evaluate` for the mean class probabilities of several models, each given the same windows as
    its own input (side features standardised its way); one member is plain `evaluate`."""
    if len(members) == 1:
        return evaluate(members[0][0], members[0][1], batch_size=batch_size, ecg=ecg)
    probs = [predict_proba(m, w.x, batch_size, side=w.side) for m, w in members]
    return ensemble_metrics(members[0][1], probs, ecg=ecg)


def ensemble_metrics(
    windows: Windows, member_probs: Sequence[np.ndarray], *, ecg: bool
) -> tuple[dict[str, Any], np.ndarray]:
    """(`evaluate`'s metrics, mean probabilities) of the mean of the members' probabilities on `windows`."""
    probs = np.mean(member_probs, axis=0)
    picked = np.clip(probs[np.arange(len(probs)), windows.y.astype(np.int64)], 1e-12, None)
    return {"loss": float(-np.log(picked).mean()), **window_metrics(windows, probs.argmax(-1), ecg=ecg)}, probs
