"""The command line, driven as a user would: exit codes, output, one-line errors."""

from __future__ import annotations

import json
import shutil
import socket

import pytest
from typer.testing import CliRunner

from sigattn.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_blocks_prints_a_row_per_block_with_costs():
    result = run("blocks", "--channels", "32", "--length", "128", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["block"]: row for row in json.loads(result.output)}
    assert set(rows) == {"none", "se", "cbam", "eca", "gc", "ca"}
    assert rows["none"]["params"] == 0 and rows["none"]["flops"] == 0
    assert rows["eca"]["params"] == 3  # kernel 3 for C=32
    assert all(rows[b]["flops"] > 0 for b in ("se", "cbam", "eca", "gc", "ca"))


def test_blocks_table_is_readable():
    result = run("blocks", "--channels", "16", "--length", "64")
    assert result.exit_code == 0
    for word in ("params added", "FLOPs added", "forward time added", "cbam", "µs"):
        assert word in result.output


def test_blocks_rejects_non_positive_sizes():
    result = run("blocks", "--channels", "0")
    assert result.exit_code == 2 and "expected a positive integer" in result.output


def test_data_describe_synthetic_reports_classes_splits_and_audit(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    result = run("data", "describe", "synthetic", "--json", "--window", "512", "--stride", "256")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["classes"] == ["Normal", "IR", "B", "OR"] and summary["window_length"] == 512
    assert set(summary["windows"]) == {"train", "val", "test"}
    assert all(n > 0 for split in summary["windows"].values() for n in split.values())
    assert summary["audit"] == {**summary["audit"], "ok": True, "strategy": "segment"}
    text = run("data", "describe", "synthetic", "--window", "512", "--stride", "256")
    assert "leakage audit (segment): passed" in text.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "describe", "cwru", "--data-dir", "/no/such/dir"], "/no/such/dir does not exist"),
        (["data", "describe", "synthetic", "--window", "0"], "window.length must be a positive integer"),
        (["data", "describe", "synthetic", "--split", "random"], "allow"),
        (["data", "describe", "manifest"], "needs data.manifest"),
    ],
)
def test_data_describe_errors_are_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SIGATTN_DATA_DIR", raising=False)
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_data_describe_unknown_dataset_is_a_usage_error():
    result = run("data", "describe", "imagenet")
    assert result.exit_code == 2


def test_data_describe_cwru_real(real_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    result = run("data", "describe", "cwru", "--load", "0", "--json", "--window", "2048", "--stride", "2048")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert len(summary["classes"]) == 10 and summary["fs"] == 12000
    assert summary["audit"]["ok"]


def test_data_fetch_cwru_from_a_mirror_then_skips(real_data_dir, server, tmp_path):
    for number in ("105", "130"):
        shutil.copy(real_data_dir / "cwru" / "raw" / f"{number}.mat", server.root / f"{number}.mat")
    args = ["data", "fetch", "cwru", "--to", str(tmp_path / "d"), "--base-url", server.url]
    first = run(*args, "--only", "105", "--only", "130")
    assert first.exit_code == 0, first.output
    assert "cwru: 2 downloaded" in first.output and f"SIGATTN_DATA_DIR={tmp_path / 'd'}" in first.output
    again = run(*args, "--only", "105", "--only", "130")
    assert "0 downloaded" in again.output and "2 already valid" in again.output


def test_data_fetch_unreachable_server_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run(
        "data", "fetch", "cwru", "--to", str(tmp_path), "--only", "105", "--base-url", f"http://127.0.0.1:{port}"
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Error:" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x93NUMPY\x01\x00truncated", "rec.npy"),
        (None, "rec.npy: file not found"),
    ],
)
def test_data_describe_bad_manifest_file_is_one_line(tmp_path, monkeypatch, content, message):
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    if content is not None:
        (tmp_path / "rec.npy").write_bytes(content)
    (tmp_path / "m.csv").write_text("path,label,fs\nrec.npy,a,1000\n")
    result = run("data", "describe", "manifest", "--manifest", str(tmp_path / "m.csv"))
    assert result.exit_code == 1 and message in result.output and "line 2" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
