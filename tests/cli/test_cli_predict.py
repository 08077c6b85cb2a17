"""`sigattn predict` on files and folders, from a local checkpoint: rows, formats and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

from sigattn.cli import app

runner = CliRunner()


@pytest.fixture
def checkpoint(tiny_checkpoint) -> Path:
    return tiny_checkpoint("se")


def predict(*args: str):
    return runner.invoke(app, ["predict", *map(str, args)])


def test_csv_to_stdout_has_a_row_per_window(checkpoint, tmp_path):
    np.savetxt(tmp_path / "a.csv", np.random.default_rng(0).standard_normal(1000), delimiter=",")
    result = predict(checkpoint, tmp_path / "a.csv")
    assert result.exit_code == 0, result.output
    *lines, note = result.output.strip().splitlines()
    assert lines[0] == "file,start,time_s,predicted,p_Normal,p_IR,p_B,p_OR"
    assert (
        note
        == f"{tmp_path / 'a.csv'}: the file carries no sampling rate; assumed the model's 12000 Hz (else pass --fs)"
    )
    assert len(lines) - 1 == (1000 - 256) // 128 + 1
    probs = [float(v) for v in lines[1].split(",")[4:]]
    assert abs(sum(probs) - 1) < 1e-4


def test_another_rate_is_resampled_to_the_models_and_said_so(checkpoint, tmp_path):
    from scipy.signal import resample_poly

    signal = np.random.default_rng(2).standard_normal(2000).astype(np.float32)
    np.save(tmp_path / "slow.npy", signal)
    np.save(tmp_path / "fast.npy", resample_poly(signal, 2, 1).astype(np.float32))  # what the model reads
    slow = predict(checkpoint, tmp_path / "slow.npy", "--fs", "6000", "--out", tmp_path / "slow.json")
    fast = predict(checkpoint, tmp_path / "fast.npy", "--fs", "12000", "--out", tmp_path / "fast.json")
    assert slow.exit_code == fast.exit_code == 0, slow.output + fast.output
    assert "slow.npy: resampled from 6000 Hz to the model's 12000 Hz (scipy.signal.resample_poly)" in slow.output
    assert "resampled from" not in fast.output
    rows = json.loads((tmp_path / "slow.json").read_text())
    same = json.loads((tmp_path / "fast.json").read_text())
    assert [r["predicted"] for r in rows] == [r["predicted"] for r in same] and len(rows) == (4000 - 256) // 128 + 1
    assert [r["start"] for r in rows] == [r["start"] // 2 for r in same], "starts count input samples"
    assert [r["time_s"] for r in rows] == [r["time_s"] for r in same]


def test_folder_with_mixed_files_predicts_signals_and_reports_the_rest(checkpoint, tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    np.save(folder / "a.npy", rng.standard_normal(600).astype(np.float32))
    scipy.io.savemat(folder / "b.mat", {"X": rng.standard_normal(700)})
    (folder / "notes.txt").write_text("not a signal")
    result = predict(checkpoint, folder, "--out", tmp_path / "p.json")
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "p.json").read_text())
    assert {Path(r["file"]).name for r in rows} == {"a.npy", "b.mat"}
    assert "skipped" in result.output and "notes.txt" in result.output


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda p: np.save(p / "x.npy", np.zeros((2, 900), np.float32)), [], "2 channel(s); the model expects 1"),
        (lambda p: np.save(p / "x.npy", np.zeros(100, np.float32)), [], "shorter than one window of 256"),
        (lambda p: np.save(p / "x.npy", np.full(900, np.nan, np.float32)), [], "NaN/Inf"),
        (lambda p: (p / "x.npy").write_bytes(b"\x93NUMPY garbage"), [], "x.npy"),
        (lambda p: None, [], "no such file"),
    ],
)
def test_bad_inputs_fail_in_one_line_and_write_nothing(checkpoint, tmp_path, make, extra, message):
    make(tmp_path)
    result = predict(checkpoint, tmp_path / "x.npy", "--out", tmp_path / "out.csv", *extra)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists() and not list(tmp_path.glob(".out.csv*"))


def test_every_option_of_every_command_has_help():
    import typer.main

    def walk(command, path=()):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    for path, command in walk(typer.main.get_command(app)):
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"sigattn {' '.join(path)} {param.opts[0]} has no help text"
