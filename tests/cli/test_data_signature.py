"""`sigattn data signature`: the squared-envelope check from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sigattn.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_synthetic_recordings_read_as_their_fault_in_json_and_text():
    result = run("data", "signature", "synthetic", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {row["label"] for row in rows} == {"Normal", "IR", "B", "OR"}
    agree = [row["reads_as"] == row["label"] for row in rows if row["label"] != "Normal"]
    assert sum(agree) >= 0.9 * len(agree)
    assert all(row["reads_as"] == "none" for row in rows if row["label"] == "Normal")
    text = run("data", "signature", "synthetic", "--band", "2000-4000", "--margin", "1.5")
    assert text.exit_code == 0, text.output
    flat = " ".join(text.output.split())  # the title may wrap
    for words in ("2000-4000", "points to", "reads as a fault when margin >= 1.5", "syn-OR-000"):
        assert words in flat
    assert "500-2000" not in flat


@pytest.fixture
def manifest(tmp_path, monkeypatch):
    """A manifest of one two-channel NPY recording at 12 kHz, without a shaft speed."""
    monkeypatch.chdir(tmp_path)
    np.save("x.npy", np.random.default_rng(0).standard_normal((2, 12000)))
    (tmp_path / "m.csv").write_text("path,label,group,fs\nx.npy,OR,a,12000\n")
    return "m.csv"


def test_a_manifest_recording_takes_rpm_and_bearing_from_the_options(manifest):
    args = ["data", "signature", "manifest", "--manifest", manifest, "--json", "--rpm", "1500"]
    rows = json.loads(run(*args).output)
    other = json.loads(run(*args, "--bearing", "8,0.25,1.5,10", "--channel", "1").output)
    assert rows[0]["rpm"] == 1500.0 and rows[0]["reads_as"] == "none"  # noise carries no fault rate
    assert other[0]["prominence"] != rows[0]["prominence"]
