"""Where and how precisely a run computes: device choice, autocast precision and seeding."""

from __future__ import annotations

import random
import re
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch

from sigattn.errors import SigattnError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def select_device(name: str = "auto") -> torch.device:
    """ "auto": CUDA, then Apple MPS, then CPU; otherwise the named device, which must exist."""
    available = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())] + ["mps"] * _mps_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    if name == "cpu" or (name == "mps" and _mps_available()):
        return torch.device(name)
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match and int(match.group(1) or 0) < torch.cuda.device_count():
        return torch.device(name)
    if match or name == "mps":
        raise SigattnError(f"train.device {name!r} is not available here; available: {', '.join(available)}")
    raise SigattnError(f"train.device must be one of: auto, cpu, cuda, cuda:N, mps; got {name!r}")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16), as torch reports it."""
    capabilities = getattr(torch.cpu, "get_capabilities", dict)()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def resolve_precision(name: str, device: torch.device) -> str:
    """ "auto": bf16 on CUDA if supported, else fp16 (with a GradScaler); bf16 on a CPU with native
    bf16; fp32 elsewhere."""
    bf16_ok = device.type != "cuda" or torch.cuda.is_bf16_supported()
    if name == "auto":
        if device.type == "cuda":
            return "bf16" if bf16_ok else "fp16"
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
    if name == "fp16" and device.type != "cuda":
        raise SigattnError(f"train.precision fp16 needs a CUDA device; on {device.type} use bf16 or fp32")
    if name == "bf16" and not bf16_ok:
        raise SigattnError("train.precision bf16 is not supported by this GPU; use fp16 or fp32")
    return name


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """Mixed-precision autocast for bf16/fp16; nothing for fp32."""
    return nullcontext() if precision == "fp32" else torch.autocast(device.type, dtype=_DTYPES[precision])


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices); ask cuDNN for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
