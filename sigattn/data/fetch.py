"""Download the real datasets and check every file against SHA-256 values pinned in the package.

CWRU comes over plain HTTP from CWRU's file server into `<to>/cwru/raw/<n>.mat` (the original
files, all channels); MIT-BIH comes from PhysioNet through wfdb into `<to>/mitdb/NNN.{hea,dat,atr}`.
The pinned values live in `sigattn/data/checksums/{cwru,mitdb}.sha256` (`<sha256>  <file name>`,
names relative to the folder that holds the files, so `sha256sum -c` works there too).

Failures: a file that the server refuses (HTTP 4xx/5xx) or whose SHA-256 is wrong is deleted,
recorded in `FetchReport.failed`, and the run goes on; at the end one SigattnError lists them all
(`strict=False` returns the report instead). A server that cannot be reached, or a transfer cut
short, stops the run at once with a SigattnError; a CWRU `.part` file is kept for the next run.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TypeAlias

from sigattn.data.download import Progress, download_resuming
from sigattn.errors import SigattnError

CWRU_URL = "https://engineering.case.edu/sites/default/files"
MITDB_VERSION = "1.0.0"  # the release the pinned checksums describe
_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *]?(\S.*)")

Checksums: TypeAlias = str | Path | Mapping[str, str]  # "cwru"/"mitdb" (packaged), a .sha256 file, a dict


@dataclass
class FetchReport:
    """What one fetch did: file names downloaded, skipped (already valid), failed (name -> reason)."""

    dataset: str
    folder: Path
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    bytes: int = 0

    def summary(self) -> str:
        """One line for the CLI, e.g. `cwru: 3 downloaded (9.1 MB), 37 already valid, 0 failed in DIR`."""
        return (
            f"{self.dataset}: {len(self.downloaded)} downloaded ({self.bytes / 1e6:.1f} MB), "
            f"{len(self.skipped)} already valid, {len(self.failed)} failed in {self.folder}"
        )


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load_checksums(source: Checksums) -> dict[str, str]:
    """File name -> lowercase SHA-256 from "cwru"/"mitdb" (packaged), a sha256sum-style file or a mapping."""
    if isinstance(source, Mapping):
        return {str(name): str(value).lower() for name, value in source.items()}
    if isinstance(source, str) and source in ("cwru", "mitdb"):
        origin = f"sigattn/data/checksums/{source}.sha256"
        text = resources.files("sigattn.data").joinpath("checksums", f"{source}.sha256").read_text()
    else:
        origin = str(source)
        try:
            text = Path(source).read_text()
        except OSError as e:
            raise SigattnError(f"cannot read checksums file {origin}: {e.strerror or e}") from None
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line.strip())
        if match is None:
            raise SigattnError(f"{origin}: line {number} is not '<sha256>  <file name>': {line!r}")
        sums[match.group(2)] = match.group(1).lower()
    return sums


def verify(folder: str | Path, checksums: Checksums, *, ignore_missing: bool = False) -> list[str]:
    """Problems found checking `folder` against `checksums`: one `"<file>: <problem>"` per bad file."""
    problems = []
    for name, expected in load_checksums(checksums).items():
        path = Path(folder) / name
        if not path.is_file():
            if not ignore_missing:
                problems.append(f"{path}: missing")
        elif (actual := sha256_of(path)) != expected:
            problems.append(f"{path}: SHA-256 mismatch: expected {expected}, got {actual}")
    return problems


def fetch_cwru(
    to: str | Path,
    *,
    base_url: str = CWRU_URL,
    files: Iterable[int | str] | None = None,
    progress: Progress | None = None,
    checksums: Checksums = "cwru",
    timeout: float = 30.0,
    strict: bool = True,
) -> FetchReport:
    """Download the CWRU 12 kHz drive-end set (+ Normal 97-100) into `<to>/cwru/raw/<n>.mat`.

    `files` picks file numbers (97, "105", "105.mat"); default: every file in `checksums`.
    A file already present with the right SHA-256 is skipped; one with a wrong hash is replaced.
    Downloads go to `<n>.mat.part`, resume with an HTTP Range request, and are renamed into place
    only once their SHA-256 matches. `timeout` (seconds) applies to connecting and to each read.
    """
    sums = load_checksums(checksums)
    names = _pick(sums, None if files is None else [str(f) for f in files], ".mat", "CWRU file")
    folder = _make_dir(Path(to).expanduser() / "cwru" / "raw")
    report = FetchReport("cwru", folder)
    for name in names:
        final = folder / name
        if _valid(final, sums[name]):
            report.skipped.append(name)
            continue
        url = f"{base_url.rstrip('/')}/{name}"
        part = folder / f"{name}.part"
        try:
            resumed = part.is_file() and part.stat().st_size > 0
            report.bytes += download_resuming(url, part, name, timeout, progress)
            if resumed and sha256_of(part) != sums[name]:  # a stale or damaged .part: start over once
                part.unlink()
                report.bytes += download_resuming(url, part, name, timeout, progress)
        except urllib.error.HTTPError as e:
            e.close()
            report.failed[name] = f"{url}: HTTP {e.code} {e.reason}"
            continue
        except (OSError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", None) or e
            kept = f"; rerun to resume from {part}" if part.is_file() else ""
            raise SigattnError(f"cannot download {url}: {reason}{kept}") from None
        _finish(part, final, sums[name], url, report)
    return _done(report, strict)


def fetch_mitdb(
    to: str | Path,
    *,
    records: Iterable[int | str] | None = None,
    base_url: str | None = None,
    progress: Progress | None = None,
    checksums: Checksums = "mitdb",
    strict: bool = True,
) -> FetchReport:
    """Download MIT-BIH (PhysioNet mitdb 1.0.0) with wfdb into `<to>/mitdb/`.

    `records` picks records (100, "101"); default: all 48 plus RECORDS. `base_url` replaces
    PhysioNet's index (`https://physionet.org/files/`); files are read from
    `<base_url>/mitdb/1.0.0/<file>`. Each file goes through wfdb's own `dl_pn_file` into
    `<to>/mitdb/.partial/`, and moves into place only once its SHA-256 matches.

    wfdb's `dl_database`/`dl_files` are not used: they look the version up on physionet.org
    whatever the index URL is, and with `overwrite=False` they keep any local file whose size
    matches the remote one, without checking its content. Here a present file counts only if its
    hash matches; anything else is downloaded again in full. wfdb sets no network timeout.
    While this runs, wfdb's global `config.db_index_url` points at `base_url` (restored after).
    """
    from wfdb.io import download  # wfdb is slow to import; only this function needs it

    sums = load_checksums(checksums)
    wanted = None if records is None else [str(r) for r in records]
    names = _pick(sums, wanted, ".hea", "MIT-BIH record")
    if wanted is not None:  # a record is its header, signal and annotation files
        names = [f"{n[:-4]}.{ext}" for n in names for ext in ("hea", "dat", "atr")]
        if missing := [n for n in names if n not in sums]:
            raise SigattnError(f"checksums list no {', '.join(missing)}; every record needs .hea/.dat/.atr")
    folder = _make_dir(Path(to).expanduser() / "mitdb")
    staging = folder / ".partial"
    index = (base_url or download.PN_INDEX_URL).rstrip("/") + "/"
    db_dir = f"mitdb/{MITDB_VERSION}"
    report = FetchReport("mitdb", folder)
    saved = download.config.db_index_url
    download.config.db_index_url = index
    try:
        for name in names:
            final = folder / name
            if _valid(final, sums[name]):
                report.skipped.append(name)
                continue
            url = f"{index}{db_dir}/{name}"
            _make_dir(staging)
            try:
                download.dl_pn_file((name, "", db_dir, str(staging), False, True))
            except OSError as e:  # wfdb's NetFileError (HTTP status) and requests' errors are OSErrors
                (staging / name).unlink(missing_ok=True)
                if getattr(e, "status_code", None) is not None:
                    report.failed[name] = f"{url}: HTTP {e.status_code}"
                    continue
                errno = re.search(r"\[Errno -?\d+\] [^'\")]+", str(e))  # requests nests the cause deeply
                raise SigattnError(f"cannot download {url}: {errno.group() if errno else e}") from None
            size = (staging / name).stat().st_size
            report.bytes += size
            if progress is not None:
                progress(name, size, size)
            _finish(staging / name, final, sums[name], url, report)
    finally:
        download.config.db_index_url = saved
        if staging.is_dir() and not any(staging.iterdir()):
            staging.rmdir()
    return _done(report, strict)


def _pick(sums: dict[str, str], wanted: list[str] | None, suffix: str, what: str) -> list[str]:
    """The file names to fetch: all of `sums`, or `wanted` (with or without `suffix`), in order."""
    if wanted is None:
        return list(sums)
    names = []
    for item in wanted:
        name = item if item in sums and item.endswith(suffix) else item + suffix
        if name not in sums:
            known = ", ".join(n.removesuffix(suffix) for n in sums if n.endswith(suffix))
            raise SigattnError(f"unknown {what} {item!r}; expected one of: {known}")
        names.append(name)
    return list(dict.fromkeys(names))


def _make_dir(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SigattnError(f"cannot create download folder {folder}: {e.strerror or e}") from None
    return folder


def _valid(path: Path, expected: str) -> bool:
    """True if `path` holds the expected bytes; a file with the wrong hash is deleted."""
    if not path.is_file():
        return False
    if sha256_of(path) == expected:
        return True
    path.unlink()
    return False


def _finish(staged: Path, final: Path, expected: str, url: str, report: FetchReport) -> None:
    """Move a verified download into place, or delete it and record the mismatch."""
    actual = sha256_of(staged)
    if actual != expected:
        staged.unlink()
        report.failed[final.name] = f"{url}: SHA-256 mismatch: expected {expected}, got {actual} (download deleted)"
        return
    os.replace(staged, final)
    report.downloaded.append(final.name)


def _done(report: FetchReport, strict: bool) -> FetchReport:
    if strict and report.failed:
        details = "; ".join(f"{name}: {why}" for name, why in report.failed.items())
        raise SigattnError(
            f"{report.dataset}: {len(report.failed)} file(s) failed in {report.folder} "
            f"({len(report.downloaded)} downloaded, {len(report.skipped)} already valid): {details}"
        )
    return report
