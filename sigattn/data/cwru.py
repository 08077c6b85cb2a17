"""CWRU bearing data: the standard 12 kHz drive-end set (Normal plus IR, B and OR@6:00).

Files are found by number in the data folder (or its `cwru/` subfolder), preferring the
compact re-saves over the original CWRU files: `12k_DE/<n>.mat`, `normal/<n>.mat`,
`<n>.mat`, then `raw/<n>.mat`. The drive-end signal is the variable named after the file
number (`X097_DE_time` for 97.mat), never "the first *_DE_time": some originals carry
variables of other recordings. The sampling rate is not stored in the files: fault files
are 12 kHz and the Normal baselines 48 kHz, which are decimated 4:1 to 12 kHz with
`resample_poly(x, 1, 4)`, so every Recording comes out at 12000 Hz.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.io
from scipy.signal import resample_poly

from sigattn.data.types import Recording
from sigattn.errors import SigattnError

FS = 12000.0
NORMAL_FS = 48000.0
LOADS: tuple[int, ...] = (0, 1, 2, 3)
NOMINAL_RPM: dict[int, int] = {0: 1797, 1: 1772, 2: 1750, 3: 1730}
SEARCH_DIRS: tuple[str, ...] = ("12k_DE", "normal", ".", "raw")  # compact first, raw last


class CwruFile(NamedTuple):
    """One recording of the standard set: fault kind, defect diameter (inches), motor load (HP)."""

    fault: str
    diameter_in: float
    load_hp: int


def _build_table() -> dict[int, CwruFile]:
    first = {  # first file number of each (fault, diameter) at 0 HP; loads 1-3 follow
        ("Normal", 0.0): 97,
        ("IR", 0.007): 105,
        ("B", 0.007): 118,
        ("OR", 0.007): 130,
        ("IR", 0.014): 169,
        ("B", 0.014): 185,
        ("OR", 0.014): 197,
        ("IR", 0.021): 209,
        ("B", 0.021): 222,
        ("OR", 0.021): 234,
    }
    return {n + load: CwruFile(f, d, load) for (f, d), n in first.items() for load in LOADS}


FILES: dict[int, CwruFile] = _build_table()

CLASSES: dict[str, tuple[str, ...]] = {
    "10class": (
        "Normal",
        *(f"{f}{d}" for f in ("IR", "B", "OR") for d in ("007", "014", "021")),
    ),
    "4class": ("Normal", "IR", "B", "OR"),
}


def classes(scheme: str = "10class") -> tuple[str, ...]:
    """The class names of `scheme` in their canonical order (label index = position)."""
    try:
        return CLASSES[scheme]
    except KeyError:
        raise SigattnError(
            f"unknown CWRU label scheme {scheme!r} (data.scheme); expected one of: {', '.join(CLASSES)}"
        ) from None


def class_name(info: CwruFile, scheme: str = "10class") -> str:
    """The label of one recording under `scheme` (e.g. 'IR007' or 'IR')."""
    classes(scheme)
    if info.fault == "Normal" or scheme == "4class":
        return info.fault
    return f"{info.fault}{round(info.diameter_in * 1000):03d}"


def find_file(data_dir: Path, number: int) -> Path | None:
    """The `<number>.mat` to read, compact copies before raw ones, or None if absent."""
    for sub in SEARCH_DIRS:
        path = data_dir / sub / f"{number}.mat"
        if path.is_file():
            return path
    return None


def read_file(path: Path, number: int) -> tuple[np.ndarray, int | None]:
    """The drive-end signal (1D float64) of file `number` and its in-file RPM (None if absent)."""
    de_key, rpm_key = f"X{number:03d}_DE_time", f"X{number:03d}RPM"
    try:
        with path.open("rb") as f:  # opened here: scipy reports a refused open as a bad file name
            data = scipy.io.loadmat(f, variable_names=[de_key, rpm_key])
    except PermissionError as e:
        raise SigattnError(f"{path}: cannot read ({e.strerror}); expected a readable file") from None
    except Exception as e:  # scipy raises many types on truncated/corrupt files
        raise SigattnError(f"{path}: not a readable MAT file (truncated or corrupt?): {e}") from None
    if de_key not in data:
        try:  # scipy stops quietly at a truncation: a full read tells that from a missing key
            keys = [k for k in scipy.io.loadmat(path) if not k.startswith("__")]
        except Exception as e:
            raise SigattnError(f"{path}: not a readable MAT file (truncated or corrupt?): {e}") from None
        raise SigattnError(f"{path}: no variable {de_key!r} for file {number}; it has: {', '.join(keys) or 'none'}")
    x = np.asarray(data[de_key])
    if x.ndim != 2 or min(x.shape) != 1 or x.size < 2 or not np.issubdtype(x.dtype, np.number):
        raise SigattnError(f"{path}: {de_key} should be a numeric (N, 1) vector; got {x.dtype} {x.shape}")
    x = x.astype(np.float64).ravel()
    if not np.isfinite(x).all():
        raise SigattnError(f"{path}: {de_key} holds {int((~np.isfinite(x)).sum())} NaN/Inf samples")
    rpm = data.get(rpm_key)
    if rpm is not None and np.size(rpm) == 1 and np.isfinite(rpm).all():
        return x, int(np.asarray(rpm).item())
    return x, None


def load_file(path: Path, number: int, scheme: str = "10class") -> Recording:
    """One CWRU file as a (1, T) float32 Recording at 12 kHz."""
    if number not in FILES:
        raise SigattnError(f"{path}: file number {number} is not in the CWRU 12 kHz drive-end table")
    info = FILES[number]
    x, rpm = read_file(path, number)
    original_fs = NORMAL_FS if info.fault == "Normal" else FS
    if original_fs != FS:
        x = resample_poly(x, 1, int(original_fs // FS))
    meta = {
        "file": number,
        "fault": info.fault,
        "diameter_in": info.diameter_in,
        "load_hp": info.load_hp,
        "rpm": rpm if rpm is not None else NOMINAL_RPM[info.load_hp],
        "rpm_in_file": rpm is not None,
        "original_fs": original_fs,
    }
    return Recording(
        signal=x.astype(np.float32)[None, :],
        fs=FS,
        label=class_name(info, scheme),
        group=str(number),
        source=str(path),
        meta=meta,
    )


def load_recordings(
    data_dir: Path,
    *,
    scheme: str = "10class",
    loads: tuple[int, ...] | None = None,
    faults_only: bool = False,
) -> list[Recording]:
    """All staged recordings of the standard set for `loads` (default 0-3 HP), ordered by file number.

    Missing files are skipped with a warning naming them (the usual copy lacks the Normal
    baselines 98-100 at 1-3 HP); finding none at all is an error.
    """
    classes(scheme)
    loads = LOADS if loads is None else tuple(loads)
    bad = [load for load in loads if load not in LOADS]
    if bad or not loads:
        raise SigattnError(f"CWRU loads must be among {LOADS} (HP); got {loads}")
    data_dir = Path(data_dir)
    if (data_dir / "cwru").is_dir():
        data_dir = data_dir / "cwru"
    if not data_dir.is_dir():
        raise SigattnError(f"CWRU data directory {data_dir} does not exist")
    wanted = [n for n, f in FILES.items() if f.load_hp in loads and not (faults_only and f.fault == "Normal")]
    found = {n: find_file(data_dir, n) for n in wanted}
    missing = [n for n, path in found.items() if path is None]
    if len(missing) == len(wanted):
        raise SigattnError(
            f"no CWRU files found in {data_dir}: expected <n>.mat (e.g. 105.mat) there or in "
            f"{', '.join(s + '/' for s in SEARCH_DIRS if s != '.')}"
        )
    if missing:
        normal = [FILES[n].load_hp for n in missing if FILES[n].fault == "Normal"]
        what = f"; Normal is missing at load(s) {normal} HP" if normal else ""
        warnings.warn(
            f"CWRU files missing from {data_dir}: {', '.join(f'{n}.mat' for n in missing)}{what}",
            stacklevel=2,
        )
    return [load_file(path, n, scheme) for n, path in sorted(found.items()) if path is not None]
