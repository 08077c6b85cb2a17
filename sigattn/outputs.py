"""Writing results safely: atomic files, staged folders, and a writability check before long work."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from sigattn.errors import SigattnError


def check_writable_folder(path: Path, what: str) -> None:
    """Raise SigattnError unless `path` is a folder, or could be made one, that this process may write in.

    `what` names the option or config key in the message. Nothing is created.
    """
    path = Path(path).expanduser()
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise SigattnError(f"{what} {path}: {existing} is a file; expected a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SigattnError(f"{what} {path}: cannot write in {existing}; expected a folder this user may write in")


@contextmanager
def staged_folder(out: Path, what: str) -> Iterator[Path]:
    """A temporary folder beside `out` to write into; its files move into `out` only if the block succeeds.

    On any error (or Ctrl-C) the temporary folder and any parent folders made for it are removed,
    so `out` never holds a partial set of files.
    """
    out = Path(out).expanduser()
    check_writable_folder(out, what)
    missing = [p for p in [out.parent, *out.parent.parents] if not p.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    except OSError as error:
        raise SigattnError(f"{what} {out}: cannot write there ({error.strerror or error})") from None
    try:
        try:
            yield stage
        except SigattnError as error:  # name files by where they were going, not the temporary folder
            raise SigattnError(str(error).replace(str(stage), str(out))) from None
        try:
            out.mkdir(exist_ok=True)
            for item in sorted(stage.iterdir()):
                os.replace(item, out / item.name)
        except OSError as error:
            raise SigattnError(f"{what} {out}: could not write ({error.strerror or error})") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not out.exists():
            for folder in missing:
                with contextlib.suppress(OSError):
                    folder.rmdir()


class TemporaryFileError(OSError):
    """The temporary file beside an atomic write's target could not be created."""


@contextmanager
def atomic_file(path: Path | str) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` only when the block ends without error: never a half-written file.

    The data goes to a temporary file in the same folder, is flushed to disk and renamed into place;
    on any error (or Ctrl-C) the temporary file is removed and `path` is left as it was. The file
    gets the mode a plain open() would give (0o666 less the umask). Raises TemporaryFileError when
    the temporary file cannot be created, OSError when writing or renaming fails.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise TemporaryFileError(error.errno, error.strerror, str(tmp)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` with `atomic_file`; failures are one-line SigattnErrors naming `path`."""
    path = Path(path)
    if path.is_dir():
        raise SigattnError(f"{path}: is a folder; expected a file name")
    if not path.parent.is_dir():
        found = "is a file" if path.parent.exists() else "does not exist"
        raise SigattnError(f"{path}: folder {path.parent} {found}; expected an existing folder")
    try:
        with atomic_file(path) as f:
            f.write(data.encode() if isinstance(data, str) else data)
    except TemporaryFileError as error:
        raise SigattnError(f"{path}: cannot write there ({error.strerror}); expected a writable folder") from None
    except OSError as error:
        raise SigattnError(f"{path}: could not write ({error.strerror or error}); nothing was written") from None
