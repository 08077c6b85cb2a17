"""Checkpoints: a plain `state_dict` plus JSON-able metadata, written atomically, loaded safely.

A checkpoint is `torch.save({"state_dict": ..., "meta": {...}, **state})` where `state` holds
whatever resuming needs (optimizer, scheduler, scaler, epoch, history, best, rng). It is written
to a temporary file in the same folder and renamed into place, so a crash or Ctrl-C never leaves
a half-written file. It is read with `weights_only=True`: tensors and plain Python data only,
so a file carrying a pickled object is refused instead of executed.

`meta` is a `ModelMeta` (sigattn.models.meta), stored as plain data with its format number and
checked on load: everything needed to rebuild the model and preprocess new data.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sigattn.errors import SigattnError
from sigattn.models import create_model
from sigattn.models.meta import ModelMeta
from sigattn.outputs import TemporaryFileError, atomic_file


def unwrap(model: nn.Module) -> nn.Module:
    """The module behind `torch.compile` (whose state_dict keys carry an `_orig_mod.` prefix)."""
    return getattr(model, "_orig_mod", model)


def build_model(model_cfg: dict[str, Any], in_channels: int, num_classes: int, side_features: int = 0) -> nn.Module:
    """The backbone described by a model config dict (`ModelConfig` as a dict)."""
    options = dict(model_cfg.get("options") or {})
    if side_features:
        options["side_features"] = side_features
    block = model_cfg.get("block", "none")
    options["block"] = block if isinstance(block, str) else tuple(block)
    options["dropout"] = model_cfg.get("dropout", 0.2)
    if model_cfg.get("widths") is not None:
        options["widths"] = tuple(model_cfg["widths"])
    return create_model(model_cfg["backbone"], in_channels, num_classes, **options)


def model_for(meta: ModelMeta) -> nn.Module:
    """A freshly initialised network of the shape `meta` describes."""
    return build_model(meta.model, meta.in_channels, len(meta.classes), len(meta.side_features))


def save_checkpoint(path: Path | str, *, model: nn.Module, meta: ModelMeta, **state: Any) -> Path:
    """Write `{"state_dict", "meta", **state}` to `path` atomically; returns the path."""
    path = Path(path)
    stored = meta.to_dict()
    try:
        json.dumps(stored)
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint meta must be JSON-able: {error}") from None
    payload = {"state_dict": unwrap(model).state_dict(), "meta": stored, **state}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as f:
            torch.save(payload, f)
    except OSError as error:  # disk full, quota, I/O error: the previous file stays as it was
        why = error.strerror or error
        if isinstance(error, TemporaryFileError) or not path.parent.is_dir():
            where = f"checkpoint {path}: cannot write in {path.parent}"
            raise SigattnError(f"{where} ({why}); expected a writable folder") from None
        kept = "; the previous checkpoint is unchanged" if path.is_file() else ""
        raise SigattnError(f"checkpoint {path}: could not write ({why}){kept}") from None
    return path


def _looks_like_torch_file(path: Path) -> bool:
    """A zip archive (torch.save) or a pickle stream (protocol 2+ starts with the PROTO opcode)."""
    with path.open("rb") as f:
        head = f.read(4)
    return head.startswith((b"PK\x03\x04", b"\x80"))


def _refusal_reason(error: Exception) -> str:
    """What torch's weights-only unpickler refused (e.g. "GLOBAL posix.system ..."), without its advice."""
    text = str(error)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found = [line for line in lines if "unsupported" in line.lower() or "GLOBAL" in line]
    return found[0].split(". ")[0].rstrip(".") if found else "unsafe content"


def load_checkpoint(path: Path | str, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (tensors mapped to `device`); "meta" is a `ModelMeta`."""
    path = Path(path)
    if not path.is_file():
        raise SigattnError(f"checkpoint {path} not found; expected a .pt file written by sigattn")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except PermissionError as error:
        raise SigattnError(f"checkpoint {path}: cannot read ({error.strerror}); expected a readable file") from None
    except pickle.UnpicklingError as error:
        if not _looks_like_torch_file(path):
            raise SigattnError(
                f"checkpoint {path} is not a torch checkpoint (neither a zip archive nor a pickle); "
                "expected a .pt file written by sigattn"
            ) from None
        raise SigattnError(
            f"checkpoint {path} was refused: it holds pickled objects, not only tensors and plain data "
            f"({_refusal_reason(error)})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError, TypeError) as error:
        raise SigattnError(f"checkpoint {path} is corrupt or truncated ({type(error).__name__})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict) or "meta" not in ckpt:
        raise SigattnError(f"checkpoint {path} is not a sigattn checkpoint; expected keys state_dict and meta")
    ckpt.setdefault("path", str(path))
    ckpt["meta"] = ModelMeta.from_dict(ckpt["meta"], f"checkpoint {path}")
    return ckpt


def model_from_checkpoint(
    checkpoint: Path | str | dict[str, Any], device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelMeta]:
    """Rebuild the model of a checkpoint (path or loaded dict) in eval mode; returns (model, meta)."""
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint, device)
    where = ckpt.get("path", "checkpoint")
    meta: ModelMeta = ckpt["meta"]
    try:
        model = model_for(meta)
    except (KeyError, TypeError) as error:
        raise SigattnError(f"checkpoint {where} has incomplete meta: missing {error}") from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise SigattnError(f"checkpoint {where} does not match its model config: {first}") from None
    return model.to(device).eval(), meta
