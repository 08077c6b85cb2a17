"""One lock per sqlite store, so several processes in one folder can share its mlflow.db.

MLflow builds a fresh sqlite store (its tables and alembic migrations) when the first client
touches it, and registers datasets with a check-then-insert; two processes doing either at once
break the store or fail a run. `store_lock` serialises them with a file `<db file>.lock` beside
the database. Other stores (servers, other databases) need no lock here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from sigattn.errors import SigattnError

LOCK_TIMEOUT_S = 300.0  # migrating a new store takes seconds; a holder this long is stuck
_LOCKS: dict[str, FileLock] = {}  # one object per file: re-entrant within a process


def sqlite_file(uri: str) -> Path | None:
    """The database file behind a `sqlite:///` URI (relative to the cwd), or None (in memory, not sqlite)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?")[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).resolve()  # an absolute path ("sqlite:////abs") stays as it is


@contextmanager
def store_lock(uri: str, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold `<db file>.lock` for a sqlite `uri` (other stores: no lock); one-line SigattnError after `timeout` s."""
    path = sqlite_file(uri)
    if path is None:
        yield
        return
    lock_path = f"{path}.lock"
    lock = _LOCKS.get(lock_path) or _LOCKS.setdefault(lock_path, FileLock(lock_path))
    try:
        lock.acquire(timeout=timeout)
        held = True
    except Timeout:
        raise SigattnError(
            f"tracking store {uri} is busy: another process has held {lock_path} for over {timeout:g} s; "
            "wait for it to finish or stop it"
        ) from None
    except OSError:  # a read-only folder: no process of this user can create or change the store
        held = False
    try:
        yield
    finally:
        if held:
            lock.release()
