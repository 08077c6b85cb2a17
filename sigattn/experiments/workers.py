"""Pipeline cells in worker processes: at most `jobs` at once, each cell in a process of its own.

A worker that dies (killed for memory, say) fails its own cell and no other: the next cell starts in
a fresh process. Ctrl-C or SIGTERM in the main process stops the grid: queued cells never start,
running workers get SIGTERM (which they treat as Ctrl-C, so their runs end KILLED), and the main
process waits for them before it raises KeyboardInterrupt.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

STOP_GRACE_S = 120.0  # how long stopped workers get to end their runs before they are killed

CellTarget = Callable[..., dict[str, Any]]  # target(*task, threads=, progress=, on_start=) -> outcome


def _stop_as_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _work(target: CellTarget, task: tuple, threads: int, send: Connection) -> None:
    """In the worker: run one cell, telling the main process its run id first and its outcome last."""
    signal.signal(signal.SIGTERM, _stop_as_ctrl_c)
    outcome = target(*task, threads=threads, progress=False, on_start=lambda run_id: send.send(("run", run_id)))
    send.send(("outcome", outcome))


def _messages(recv: Connection) -> dict[str, Any]:
    """Every message a finished worker sent: {"run": run id, "outcome": outcome}, as far as they came."""
    got: dict[str, Any] = {}
    try:
        while recv.poll():
            kind, value = recv.recv()
            got[kind] = value
    except (EOFError, OSError):
        pass
    return got


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"its worker process was killed by {name}{hint}"
    return f"its worker process exited with code {exitcode} before reporting"


def run_in_workers(
    target: CellTarget,
    tasks: Sequence[tuple],
    *,
    jobs: int,
    threads: int,
    on_done: Callable[[int, dict[str, Any]], None],
) -> None:
    """Run `target(*task)` for every task in spawned processes, `jobs` at a time; `on_done(i, outcome)`
    hears each as it ends. A dead worker's outcome is {"status": "failed", "error": ..., "run_id": the run
    it had started or None, "worker_died": True}. Raises KeyboardInterrupt after an interrupt, once the
    running workers have ended (their outcomes reported too)."""
    context = multiprocessing.get_context("spawn")
    pending = deque(enumerate(tasks))
    running: dict[int, tuple[int, Any, Connection]] = {}  # sentinel -> (task index, process, receiving end)

    def finish(sentinel: int) -> None:
        index, process, recv = running.pop(sentinel)
        process.join()
        got = _messages(recv)
        recv.close()
        outcome = got.get("outcome") or {
            "status": "failed", "error": _death(process.exitcode), "run_id": got.get("run"), "worker_died": True
        }  # fmt: skip
        on_done(index, outcome)

    try:
        while pending or running:
            while pending and len(running) < jobs:
                index, task = pending.popleft()
                recv, send = context.Pipe(duplex=False)
                process = context.Process(target=_work, args=(target, task, threads, send), daemon=True)
                process.start()
                send.close()
                running[process.sentinel] = (index, process, recv)
            for sentinel in wait(list(running)):
                finish(sentinel)
    except KeyboardInterrupt:
        pending.clear()
        for _, process, _ in running.values():
            process.terminate()  # SIGTERM: the worker ends its run KILLED
        for sentinel in list(running):
            running[sentinel][1].join(STOP_GRACE_S)
            if running[sentinel][1].is_alive():
                running[sentinel][1].kill()
            finish(sentinel)
        raise
