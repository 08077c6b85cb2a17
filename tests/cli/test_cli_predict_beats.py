"""`sigattn predict` with a beat model (RR features) on WFDB records: annotated or detected beats, other rates,
WFDB annotation output, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb
from typer.testing import CliRunner

from sigattn.cli import app
from sigattn.config import load_config
from sigattn.data.beats import cut_beats
from sigattn.data.prepare import beat_pipeline, prepare
from sigattn.data.side import SideStats, rr_side_features
from sigattn.evaluate.beats import record_inputs
from sigattn.models.checkpoint import model_from_checkpoint
from sigattn.train.loop import fit

runner = CliRunner()
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore::UserWarning")]


def write_record(folder: Path, name: str, fs: float, seconds: float = 30.0, seed: int = 0) -> np.ndarray:
    """ECG-like spikes every 0.8 s (every 4th one early and wide: 'V'); returns the beat samples."""
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    peaks = np.arange(int(fs), n - int(fs), int(0.8 * fs))
    early = np.arange(peaks.size) % 4 == 3
    peaks[early] -= int(0.2 * fs)
    sig = 0.02 * rng.standard_normal(n)
    for p, wide in zip(peaks, early, strict=True):
        half = int((0.06 if wide else 0.02) * fs)
        sig[p - half : p + half + 1] += np.hanning(2 * half + 1) * (1.5 if wide else 1.0)
    wfdb.wrsamp(name, fs=fs, units=["mV"], sig_name=["MLII"], p_signal=sig[:, None], fmt=["16"], write_dir=str(folder))
    wfdb.wrann(name, "atr", peaks, np.where(early, "V", "N"), write_dir=str(folder))
    return peaks


@pytest.fixture(scope="module")
def beat_model(tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint of a 1-epoch RR beat model trained on 360 Hz records, its data folder)."""
    root = tmp_path_factory.mktemp("beats")
    data = root / "db"
    data.mkdir()
    for i in range(3):
        write_record(data, f"r{i}", 360.0, seed=i)
    cfg = load_config(None, ["data.dataset=wfdb-beats", f"data.data_dir={data}", "data.rr_features=true",
                             "data.beat_window_s=[0.25, 0.45]", "data.cache=false",
                             "data.split.groups={train: [r0], val: [r1], test: [r2]}",
                             "model.widths=[8, 8, 8, 8]", "train.epochs=1", "train.batch_size=16", "train.device=cpu",
                             "train.quiet=true", f"train.checkpoint_dir={root / 'ckpt'}"])  # fmt: skip
    return fit(cfg, prepare(cfg.data), progress=False).best_checkpoint, data


def predict(*args) -> object:
    return runner.invoke(app, ["predict", *map(str, args)])


def test_predict_inputs_match_the_training_path(beat_model):
    checkpoint, data = beat_model
    _, meta = model_from_checkpoint(checkpoint)
    cfg = load_config(meta.config)
    inputs = record_inputs(data / "r2.hea", meta)
    x, fs = wfdb.rdrecord(str(data / "r2")).p_signal[:, 0].astype(np.float32), 360.0
    pipeline = beat_pipeline(cfg.data)
    cut = cut_beats(x[None], fs, inputs.samples, before=meta.beat.before, after=meta.beat.after, pipeline=pipeline)
    np.testing.assert_array_equal(inputs.x, pipeline.apply_windows(cut.x, cut.fs))
    side = SideStats.from_dict(meta.side_stats).apply(rr_side_features(cut.features))
    np.testing.assert_array_equal(inputs.side, side)
    assert inputs.note is None


def test_annotated_beats_at_another_rate_round_trip_through_wfdb(beat_model, tmp_path):
    checkpoint, _ = beat_model
    peaks = write_record(tmp_path, "new", 250.0, seed=7)
    result = predict(checkpoint, tmp_path / "new.hea", "--beats", "annotations", "--wfdb-out", tmp_path / "out",
                     "--out", tmp_path / "p.json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "resampled 250 Hz to the model's 360 Hz" in result.output
    rows = json.loads((tmp_path / "p.json").read_text())
    assert [r["sample"] for r in rows] == peaks.tolist()
    assert set(rows[0]) == {"file", "sample", "time_s", "predicted", "p_N", "p_S", "p_V", "p_F", "p_Q"}
    assert rows[1]["time_s"] == pytest.approx(peaks[1] / 250.0)
    ann = wfdb.rdann(str(tmp_path / "out" / "new"), "pred")
    assert ann.sample.tolist() == peaks.tolist() and ann.symbol == [r["predicted"] for r in rows]


def test_detected_beats_find_the_annotated_ones_in_a_folder(beat_model, tmp_path):
    checkpoint, _ = beat_model
    peaks = {name: write_record(tmp_path, name, fs, seed=3) for name, fs in (("a", 360.0), ("b", 250.0))}
    result = predict(checkpoint, tmp_path, "--beats", "detect")
    assert result.exit_code == 0, result.output
    lines = [line.split(",") for line in result.output.splitlines() if line.startswith(str(tmp_path))]
    for name, fs in (("a", 360.0), ("b", 250.0)):
        found = np.array([int(v[1]) for v in lines if v[0].endswith(f"{name}.hea")])
        near = np.abs(found[:, None] - peaks[name][None, :]).min(axis=0) <= 0.05 * fs
        assert near.mean() > 0.9, name


def write_flat(folder: Path) -> None:
    wfdb.wrsamp("flat", fs=360, units=["mV"], sig_name=["MLII"], p_signal=np.zeros((3600, 1)), fmt=["16"],
                write_dir=str(folder))  # fmt: skip


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda d: None, ["missing.hea"], "missing.hea: no such file or directory"),
        (lambda d: write_record(d, "r", 360.0), ["r.hea", "--beats", "guess"], "'guess' is not one of"),
        (lambda d: write_record(d, "r", 360.0), ["r.hea", "--annotation", "qrs"], "annotation file"),
        (
            write_flat,
            ["flat.hea", "--beats", "detect"],
            "beats detected; RR features and beat context need at least 2",
        ),
        (lambda d: np.save(d / "x.npy", np.zeros(900, np.float32)), ["x.npy"], "not a WFDB record"),
    ],
)
def test_bad_input_is_one_line(beat_model, tmp_path, make, args, message):
    checkpoint, _ = beat_model
    make(tmp_path)
    result = predict(checkpoint, *[str(tmp_path / args[0]), *args[1:]])
    assert result.exit_code in (1, 2) and message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_eval_on_another_beat_database_scores_per_class_and_per_record(beat_model, tmp_path, monkeypatch):
    checkpoint, _ = beat_model
    other = tmp_path / "other"
    other.mkdir()
    for i, fs in enumerate((250.0, 250.0, 500.0)):
        write_record(other, f"x{i}", fs, seed=10 + i)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    args = ["eval", str(checkpoint), "--set", "data.dataset=wfdb-beats", "--set", f"data.data_dir={other}",
            "--split", "all", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"]  # fmt: skip
    result = runner.invoke(app, [*args, "--json", "--no-log"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["n"] == sum(len(write_record(tmp_path, "t", fs)) for fs in (250.0, 250.0, 500.0))
    assert {"se_V", "ppv_V"} <= set(metrics) and set(metrics["per_record"]) == {"x0", "x1", "x2"}
    logged = runner.invoke(app, args)
    assert logged.exit_code == 0 and "evaluation run" in logged.output, logged.output
    import mlflow

    run_id = logged.output.split("evaluation run ")[1].split()[0]
    data = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'm.db'}").get_run(run_id).data
    assert "eval_all_record_se_V/x1" in data.metrics and data.tags["dataset"] == "wfdb-beats"


@pytest.mark.realdata
def test_predict_inputs_on_a_real_record_equal_the_prepared_test_beats(real_data_dir, tmp_path, monkeypatch):
    from sigattn.train.bundle import bundle_meta

    if not (real_data_dir / "mitdb" / "100.hea").is_file():
        pytest.skip(f"{real_data_dir}/mitdb/100.hea not found: MIT-BIH real-data test skipped")
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    options = ["data.rr_features=true", "data.beat_fs=180", "data.beat_context=neighbours"]
    cfg = load_config(None, ["data.dataset=mitdb", f"data.data_dir={real_data_dir}", *options,
                             "data.amplitude=record-median-beat"])  # fmt: skip
    prepared = prepare(cfg.data)
    test = prepared.splits["test"]
    mine = test.groups == "100"
    inputs = record_inputs(real_data_dir / "mitdb" / "100.hea", bundle_meta(cfg, prepared))
    np.testing.assert_array_equal(inputs.x, test.x[mine])
    np.testing.assert_allclose(inputs.side, test.side[mine], rtol=1e-6, atol=1e-6)
    assert inputs.note is None
