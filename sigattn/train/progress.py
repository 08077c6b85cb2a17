"""What the loop shows and listens to between batches: progress bars on stderr, and a stop request."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def check_stop(stop: threading.Event | None) -> None:
    """Raise KeyboardInterrupt when `stop` is set, as Ctrl-C would."""
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt


def progress_bars(show: bool) -> Progress:
    """Epoch and batch bars on stderr (library output never goes to stdout); hidden unless `show`."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, TextColumn("{task.fields[info]}"), console=Console(stderr=True), disable=not show)
