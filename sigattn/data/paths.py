"""Where real datasets live: one setting, `SIGATTN_DATA_DIR`."""

from __future__ import annotations

import os
from pathlib import Path

from sigattn.errors import SigattnError

DATA_DIR_ENV = "SIGATTN_DATA_DIR"


def data_root(explicit: str | Path | None = None) -> Path | None:
    """The data root: `explicit` if given, else `$SIGATTN_DATA_DIR`, else None."""
    value = explicit if explicit is not None else os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def dataset_dir(name: str, explicit: str | Path | None = None) -> Path:
    """The folder of dataset `name` (e.g. `<root>/cwru`), or a SigattnError saying how to set it."""
    root = data_root(explicit)
    if root is None:
        raise SigattnError(
            f"dataset {name!r} needs a data directory: pass --data-dir or set {DATA_DIR_ENV} "
            f"to a folder holding {name}/ (get it with `sigattn data fetch {name} --to DIR`)"
        )
    folder = root / name if (root / name).is_dir() else root
    if not folder.is_dir():
        raise SigattnError(f"data directory {folder} does not exist; expected a folder holding {name}/")
    return folder
