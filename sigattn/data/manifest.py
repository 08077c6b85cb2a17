"""User recordings listed in a CSV manifest: `path,label[,group][,fs]`, one row per recording.

Paths are relative to the manifest's folder. Formats, by extension:

- `.csv`: one column per channel, one row per sample; a first row that is not all numbers
  is taken as a header. Text in a later row is an error naming the line.
- `.npy`: 1D (one channel) or 2D; the longer axis is time, so (C, T) and (T, C) both work
  (a square array is read as (C, T)).
- `.mat`: `rec.mat#key` names the variable (same shape rule as .npy); without `#key` the
  file must hold exactly one numeric array.
- WFDB: `rec.hea`, or `rec` without extension when `rec.hea` exists; all channels, fs from
  the header.

The rate comes from the `fs` column, else the file (WFDB), else `default_fs`; a column fs
that disagrees with the file's is an error. `group` (what a split keeps whole) defaults to
the path as written, without `#key`. Extra columns go into `Recording.meta`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.io
import wfdb

from sigattn.data.types import Recording
from sigattn.errors import SigattnError

REQUIRED = ("path", "label")
FORMATS = ".csv, .npy, .mat[#key], WFDB (.hea or record name)"


def _as_channels_first(x: np.ndarray, path: Path) -> np.ndarray:
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise SigattnError(f"{path}: expected a numeric array; got dtype {x.dtype}")
    if x.ndim == 1:
        x = x[None, :]
    elif x.ndim == 2:
        x = x.T if x.shape[0] > x.shape[1] else x
    else:
        raise SigattnError(f"{path}: expected a 1D or 2D array (channels x samples); got shape {x.shape}")
    return x


def _read_csv(path: Path) -> np.ndarray:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [(n, row) for n, row in enumerate(csv.reader(f), start=1) if any(c.strip() for c in row)]
    except OSError as e:
        raise _cannot_read(path, e) from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise SigattnError(f"{path}: not a readable CSV text file: {e}") from None
    if rows:
        try:
            [float(c) for c in rows[0][1]]
        except ValueError:
            rows = rows[1:]  # header row
    if not rows:
        raise SigattnError(f"{path}: no samples; expected one row per sample, one column per channel")
    width = len(rows[0][1])
    out = np.empty((len(rows), width), dtype=np.float64)
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise SigattnError(f"{path} line {line}: {len(row)} columns; expected {width} like the first row")
        try:
            out[i] = [float(c) for c in row]
        except ValueError:
            raise SigattnError(f"{path} line {line}: expected numbers, got {','.join(row)[:60]!r}") from None
    return out.T


def _cannot_read(path: Path, error: OSError) -> SigattnError:
    return SigattnError(f"{path}: cannot read ({error.strerror or error}); expected a readable file")


def _read_mat(path: Path, key: str | None) -> np.ndarray:
    try:
        with path.open("rb") as f:  # opened here: scipy reports a refused open as a bad file name
            data = scipy.io.loadmat(f, variable_names=None if key is None else [key])
            if key is not None and key not in data:  # scipy stops quietly at a truncation: read it all
                f.seek(0)
                data = scipy.io.loadmat(f)
    except PermissionError as e:
        raise _cannot_read(path, e) from None
    except NotImplementedError:
        raise SigattnError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save with -v7") from None
    except Exception as e:
        raise SigattnError(f"{path}: not a readable MAT file (truncated or corrupt?): {e}") from None
    names = [k for k in data if not k.startswith("__")]
    if key is None:
        arrays = [k for k in names if isinstance(data[k], np.ndarray) and data[k].dtype.kind in "biuf"]
        if len(arrays) != 1:
            raise SigattnError(f"{path}: holds {len(arrays)} arrays ({', '.join(names)}); name one as {path.name}#KEY")
        key = arrays[0]
    if key not in data:
        raise SigattnError(f"{path}: no variable {key!r}; available: {', '.join(names) or 'none'}")
    return _as_channels_first(np.asarray(data[key]), path)


def _read_wfdb(path: Path) -> tuple[np.ndarray, float]:
    base = path.with_suffix("") if path.suffix == ".hea" else path
    try:
        rec = wfdb.rdrecord(str(base), physical=True)
        x = np.asarray(rec.p_signal, dtype=np.float64).T
    except PermissionError as e:
        raise _cannot_read(Path(e.filename or f"{base}.hea"), e) from None
    except FileNotFoundError as e:
        missing = Path(e.filename or "?").name
        raise SigattnError(f"{base}.hea: could not read WFDB record: its signal file {missing} is missing") from None
    except Exception as e:
        raise SigattnError(f"{base}.hea: could not read WFDB record (truncated or corrupt?): {e}") from None
    if x.shape[1] != rec.sig_len:
        raise SigattnError(f"{base}.hea: read {x.shape[1]} samples, header says {rec.sig_len}")
    return x, float(rec.fs)


def read_signal(path: Path, *, key: str | None = None) -> tuple[np.ndarray, float | None]:
    """A (C, T) float32 signal from `path` and its fs when the format carries one (WFDB), else None."""
    path = Path(path)
    suffix = path.suffix.lower()
    fs: float | None = None
    if key is not None and suffix != ".mat":
        raise SigattnError(f"{path}#{key}: a #key only applies to .mat files")
    if suffix == ".hea" or (suffix not in (".csv", ".npy", ".mat") and path.with_suffix(".hea").is_file()):
        if not path.with_suffix(".hea").is_file():
            raise SigattnError(f"{path}: WFDB header not found")
        x, fs = _read_wfdb(path)
    elif not path.is_file():
        raise SigattnError(f"{path}: file not found")
    elif suffix == ".csv":
        x = _read_csv(path)
    elif suffix == ".npy":
        try:
            x = _as_channels_first(np.load(path, allow_pickle=False), path)
        except SigattnError:
            raise
        except PermissionError as e:
            raise _cannot_read(path, e) from None
        except Exception as e:
            raise SigattnError(f"{path}: not a readable .npy file (truncated or corrupt?): {e}") from None
    elif suffix == ".mat":
        x = _read_mat(path, key)
    else:
        raise SigattnError(f"{path}: unsupported format {suffix or '(none)'!r}; expected {FORMATS}")
    if x.size == 0 or x.shape[-1] < 2:
        raise SigattnError(f"{path}: empty signal {x.shape}; expected at least 1 channel and 2 samples")
    bad = ~np.isfinite(x)
    if bad.any():
        raise SigattnError(f"{path}: {int(bad.sum())} NaN/Inf samples (first at sample {int(np.argwhere(bad)[0, 1])})")
    return np.ascontiguousarray(x, dtype=np.float32), fs


def _row_fs(text: str, file_fs: float | None, default_fs: float | None, where: str) -> float:
    if text.strip():
        try:
            fs = float(text)
        except ValueError:
            raise SigattnError(f"{where}: fs {text!r} is not a number") from None
        if file_fs is not None and not np.isclose(fs, file_fs):
            raise SigattnError(f"{where}: fs column says {fs} Hz but the file says {file_fs} Hz")
    elif file_fs is not None:
        fs = file_fs
    elif default_fs is not None:
        fs = float(default_fs)
    else:
        raise SigattnError(f"{where}: no sampling rate; add an fs column or pass a default fs")
    if not (np.isfinite(fs) and fs > 0):
        raise SigattnError(f"{where}: fs must be a positive number of Hz; got {fs}")
    return fs


class ManifestRow(NamedTuple):
    """One non-empty manifest row: where it is, its cleaned fields, the file and the MAT key."""

    where: str
    line: int
    fields: dict[str, str]
    path: Path
    key: str | None


def read_rows(manifest_path: Path) -> list[ManifestRow]:
    """The non-empty rows of a manifest, with each path resolved against the manifest's folder."""
    manifest_path = Path(manifest_path)
    expected = "expected a CSV file with columns path,label[,group][,fs]"
    if manifest_path.is_dir():
        raise SigattnError(f"manifest {manifest_path} is a folder; {expected}")
    if not manifest_path.is_file():
        raise SigattnError(f"manifest {manifest_path} not found; {expected}")
    try:
        with manifest_path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            raw_rows = [(reader.line_num, row) for row in reader]
    except OSError as e:
        raise SigattnError(f"manifest {manifest_path}: cannot read ({e.strerror or e}); {expected}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise SigattnError(f"{manifest_path}: could not read manifest: {e}; {expected}") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise SigattnError(
            f"{manifest_path}: missing column(s) {', '.join(missing)}; header must be path,label[,group][,fs]"
        )
    rows = []
    for line, raw in raw_rows:
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        where = f"{manifest_path} line {line}"
        if not row["path"] or not row["label"]:
            raise SigattnError(f"{where}: empty path or label")
        rel, _, key = row["path"].partition("#")
        path = Path(rel) if Path(rel).is_absolute() else manifest_path.parent / rel
        rows.append(ManifestRow(where, line, {**row, "path": rel}, path, key or None))
    if not rows:
        raise SigattnError(f"{manifest_path}: no recordings; expected rows of path,label[,group][,fs]")
    return rows


def load_recordings(manifest_path: Path, *, default_fs: float | None = None) -> list[Recording]:
    """Every recording listed in `manifest_path`, in manifest order."""
    recordings = []
    for row in read_rows(manifest_path):
        try:
            x, file_fs = read_signal(row.path, key=row.key)
        except SigattnError as e:
            raise SigattnError(f"{row.where}: {e}") from None
        fields = row.fields
        extra = {k: v for k, v in fields.items() if k not in ("path", "label", "group", "fs")}
        recordings.append(
            Recording(
                signal=x,
                fs=_row_fs(fields.get("fs", ""), file_fs, default_fs, row.where),
                label=fields["label"],
                group=fields.get("group") or fields["path"],
                source=str(row.path) + (f"#{row.key}" if row.key else ""),
                meta={"path": fields["path"], "key": row.key, "manifest_line": row.line, **extra},
            )
        )
    return recordings
