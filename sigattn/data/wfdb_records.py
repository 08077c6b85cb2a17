"""One lead and the annotations of a WFDB record, tolerant of real-database quirks.

A lead is picked by name, trying a list of names in order. Annotations at or past the last
sample (PhysioNet records sometimes end on one) or before the first are dropped with a one-line
warning naming the record and the sample; the record itself is kept. A record with none of the
leads raises `MissingLead`, which dataset loaders catch to skip that record with a note.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import wfdb

from sigattn.errors import SigattnError

_UNITS_TO_MV: dict[str, float] = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}


class MissingLead(SigattnError):
    """The record has none of the requested leads."""


class DataWarning(UserWarning):
    """Something in the data was left out (an annotation, a record); the rest is used."""


def record_names(folder: Path) -> list[str]:
    """The records of a WFDB folder: the lines of its RECORDS file, else the stems of its *.hea files."""
    listing = folder / "RECORDS"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    else:
        names = sorted(p.stem for p in folder.glob("*.hea"))
    if not names:
        raise SigattnError(f"{folder}: no WFDB records; expected a RECORDS file or *.hea headers")
    return names


def header_fs(base: Path) -> float:
    """The sampling rate in the header of record `base` (path without suffix)."""
    hea = base.with_name(f"{base.name}.hea")
    if not hea.is_file():
        raise SigattnError(f"record {base.name}: header {hea} not found")
    try:
        return float(wfdb.rdheader(str(base)).fs)
    except Exception as e:
        raise SigattnError(f"{hea}: corrupt header ({type(e).__name__}: {e})") from None


def read_lead(base: Path, leads: Sequence[str]) -> tuple[np.ndarray, float, str]:
    """The first of `leads` that record `base` (path without suffix) has, in mV (float32), its fs and name."""
    record, hea = base.name, base.with_name(f"{base.name}.hea")
    if not hea.is_file():
        raise SigattnError(f"record {record}: header {hea} not found")
    try:
        header = wfdb.rdheader(str(base))
    except PermissionError as e:
        raise SigattnError(f"{hea}: cannot read ({e.strerror}); expected a readable file") from None
    except Exception as e:
        raise SigattnError(f"{hea}: corrupt header ({type(e).__name__}: {e})") from None
    names = list(header.sig_name or [])
    lead = next((name for name in leads if name in names), None)
    if lead is None:
        wanted = leads[0] if len(leads) == 1 else leads
        raise MissingLead(f"{hea}: record {record} has no lead {wanted!r}; it has: {', '.join(names) or 'none'}")
    channel = names.index(lead)
    dat = base.with_name(header.file_name[channel])
    try:
        rec = wfdb.rdrecord(str(base), channels=[channel], physical=True)
        x = np.asarray(rec.p_signal, dtype=np.float64)[:, 0]
    except Exception as e:
        raise SigattnError(f"{dat}: could not read lead {lead} (truncated or corrupt?): {e}") from None
    if x.size == 0 or x.size != header.sig_len:
        raise SigattnError(f"{dat}: {x.size} samples of lead {lead}, header says {header.sig_len}")
    if not np.isfinite(x).all():
        raise SigattnError(f"{dat}: lead {lead} has {int((~np.isfinite(x)).sum())} invalid (NaN) samples")
    unit = ((rec.units or ["mV"])[0] or "mV").strip().lower()
    if unit not in _UNITS_TO_MV:
        raise SigattnError(f"{hea}: lead {lead} is in {rec.units[0]!r}; expected mV, uV or V")
    return (x * _UNITS_TO_MV[unit]).astype(np.float32), float(header.fs), lead


def read_annotations(base: Path, extension: str, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples and symbols of annotation file `base.<extension>`; those at or past the last sample dropped."""
    record, path = base.name, base.with_name(f"{base.name}.{extension}")
    if not path.is_file():
        raise SigattnError(f"record {record}: annotation file {path} not found")
    try:
        ann = wfdb.rdann(str(base), extension)
    except Exception as e:
        raise SigattnError(f"{path}: corrupt annotations ({type(e).__name__}: {e})") from None
    samples = np.asarray(ann.sample, dtype=np.int64)
    symbols = np.asarray(ann.symbol, dtype=str)
    outside = (samples < 0) | (samples >= n_samples - 1)
    for sample, symbol in zip(samples[outside], symbols[outside], strict=True):
        where = "before the first sample" if sample < 0 else f"at or past the last sample {n_samples - 1}"
        warnings.warn(
            f"record {record}: annotation {str(symbol)!r} at sample {int(sample)} is {where}; dropped",
            DataWarning,
            stacklevel=2,
        )
    return samples[~outside], symbols[~outside]
