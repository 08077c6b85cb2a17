"""Shared fixtures: real datasets come only from $SIGATTN_DATA_DIR."""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real-data root ($SIGATTN_DATA_DIR holding cwru/ and mitdb/), or skip the test."""
    value = os.environ.get("SIGATTN_DATA_DIR")
    if not value:
        pytest.skip("SIGATTN_DATA_DIR not set: real-data test skipped")
    root = Path(value).expanduser()
    if not root.is_dir():
        pytest.skip(f"SIGATTN_DATA_DIR={value} is not a directory: real-data test skipped")
    return root


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, plus `Range: bytes=N-` (unless the server's `honor_range` is False).

    With `cut_after` set, a full GET promises the whole file but sends only that many bytes.
    """

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        wanted = self.headers.get("Range")
        self.server.seen.append((self.path, wanted))
        path = Path(self.translate_path(self.path))
        match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
        if self.server.cut_after and not wanted and path.is_file():
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: self.server.cut_after])
            return
        if not (match and self.server.honor_range and path.is_file()):
            super().do_GET()
            return
        data, start = path.read_bytes(), int(match.group(1))
        if start >= len(data):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[http.server.ThreadingHTTPServer]:
    """A server for `tmp_path/srv`; `.url` is its base URL, `.seen` the (path, Range) of each GET."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    root = tmp_path / "srv"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(root)))
    httpd.seen, httpd.honor_range, httpd.cut_after, httpd.root = [], True, 0, root
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MLflow telemetry, no proxy for 127.0.0.1, and no torch.export trace payloads in log capture."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.setattr(logging.getLogger("torch.__trace"), "propagate", False)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 serving its artifacts, for the whole session."""
    root = tmp_path_factory.mktemp("server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", MLFLOW_DISABLE_TELEMETRY="true")
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # else 7 huey workers start and eat the CPUs
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{root / 'srv.db'}", "--artifacts-destination", str(root / "art")]
    command += ["--workers", "1"]
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"mlflow server exited with {process.returncode}: {(root / 'server.log').read_text()[-500:]}"
                )
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer /health within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):  # the server and its workers
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()


TINY_RUN = [
    "data.synthetic.n_per_class=3",
    "data.synthetic.seconds=1.0",
    "data.window.length=256",
    "data.window.stride=128",
    "model.widths=[8,8,8,8]",
    "train.epochs=1",
    "train.quiet=true",
]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """`tiny_checkpoint(block)`: the best.pt of a 1-epoch model on a tiny synthetic set (cached per block)."""
    import torch

    from sigattn.config import load_config
    from sigattn.data.prepare import prepare
    from sigattn.train.loop import fit

    made: dict[str, Path] = {}

    def make(block: str) -> Path:
        if block not in made:
            root = tmp_path_factory.mktemp(f"tiny-{block}")
            torch.set_num_threads(1)
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("SIGATTN_CACHE_DIR", str(root / "cache"))
                cfg = load_config(None, [*TINY_RUN, f"model.block={block}", f"train.checkpoint_dir={root / 'ckpt'}"])
                made[block] = fit(cfg, prepare(cfg.data), progress=False).best_checkpoint
        return made[block]

    return make


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads, and OpenMP spin-waits stall on a busy CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
