"""`dataset: wfdb-beats`: beats of any folder of WFDB records with beat annotations, split by record.

Records are `data.records`, else every record of `data.data_dir` (its RECORDS file, else its
*.hea files). Records without any of the `data.lead` names, or with under 2 beats, are skipped
with a one-line note. Whole records go to one split: `split.groups` lists them per split
(splits it leaves out stay empty, e.g. `{test: [...]}` to evaluate a trained model on a whole
database), else a seeded draw by `split.fractions`. MIT-BIH (`dataset: mitdb`) is the preset
with the DS1/DS2 records and the inter-patient split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sigattn.config import DataConfig
from sigattn.data.mitdb import load_beats
from sigattn.data.splits import assign_groups, explicit_groups, split_windows_by_group
from sigattn.data.types import SPLITS, Windows
from sigattn.data.wfdb_records import header_fs, record_names
from sigattn.errors import SigattnError


def data_folder(cfg: DataConfig) -> Path:
    """The folder of WFDB records named by `data.data_dir` (it must be given and exist)."""
    if not cfg.data_dir:
        raise SigattnError("dataset 'wfdb-beats' needs data.data_dir: the folder of WFDB records (.hea, .dat, .atr)")
    folder = Path(cfg.data_dir).expanduser()
    if not folder.is_dir():
        raise SigattnError(f"data.data_dir {folder} does not exist; expected a folder of WFDB records")
    return folder


def native_fs(cfg: DataConfig) -> float:
    """The rate of the first record of `cfg` (beat windows in seconds need it when data.beat_fs is unset)."""
    folder = data_folder(cfg)
    first = (list(cfg.records) if cfg.records else record_names(folder))[0]
    return header_fs(folder / first)


def wfdb_beats_splits(cfg: DataConfig, options: dict[str, Any]) -> tuple[dict[str, Windows], int]:
    """Train/val/test beats of the records of `cfg` (options: the keyword arguments of load_beats)."""
    folder = data_folder(cfg)
    records = list(cfg.records) if cfg.records else record_names(folder)
    beats = load_beats(folder, records, annotation=cfg.annotation, skip_unusable=True, **options)
    present = sorted(set(beats.groups.tolist()))
    split = cfg.split
    if split.groups:
        group_split = explicit_groups(split.groups, present)
    else:
        group_split = assign_groups(dict.fromkeys(present, "beats"), split.fractions, split.seed)
    out = split_windows_by_group(beats, group_split)
    empty = [name for name in SPLITS if len(out[name]) == 0 and not (split.groups and name not in split.groups)]
    if empty:
        raise SigattnError(
            f"{folder}: split {empty[0]!r} received no records ({len(present)} usable); "
            "list records per split in data.split.groups"
        )
    return out, beats.x.shape[-1]
