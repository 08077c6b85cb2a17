"""The dechazal baseline: its beat features, the fit, the choice on val, and a pipeline child run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from sigattn.config import load_config
from sigattn.data.prepare import Prepared, prepare
from sigattn.data.splits import AuditResult
from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.experiments.linear_ecg import CANDIDATES, FEATURES, beat_features, fit_linear_ecg
from sigattn.experiments.pipeline import load_pipeline

FS, BEFORE, AFTER = 360.0, 90, 170
CLASSES = ("N", "S", "V", "F", "Q")


def _beats(kinds: list[str], rng: np.random.Generator, noise: float = 0.02) -> Windows:
    """Beats with the R peak at BEFORE: N narrow and on time, S narrow and premature, V wide and premature."""
    t = (np.arange(BEFORE + AFTER) - BEFORE) / FS
    x, rr = [], []
    for kind in kinds:
        width = 0.035 if kind == "V" else 0.008
        beat = np.exp(-0.5 * (t / width) ** 2) + 0.3 * np.exp(-0.5 * ((t - 0.3) / 0.04) ** 2)
        x.append(beat + noise * rng.normal(size=t.size))
        mean = rng.uniform(0.7, 1.0)
        prev = mean * (rng.uniform(0.55, 0.7) if kind in "SV" else rng.uniform(0.95, 1.05))
        rr.append([prev, mean * (1.3 if kind in "SV" else 1.0), mean, mean])
    n = len(kinds)
    return Windows(
        x=np.asarray(x, dtype=np.float32)[:, None, :],
        y=np.array([CLASSES.index(k) for k in kinds], dtype=np.int64),
        classes=CLASSES,
        groups=np.full(n, "r"),
        sources=np.full(n, "r"),
        starts=np.arange(n, dtype=np.int64),
        fs=FS,
        features=np.asarray(rr, dtype=np.float32),
    )


def _prepared(splits: dict[str, Windows]) -> Prepared:
    cfg = load_config(None, ["data.dataset=mitdb"]).data
    return Prepared(splits, CLASSES, FS, AuditResult(True, "inter-patient"), cfg, BEFORE + AFTER)


def _column(name: str) -> int:
    return FEATURES.index(name)


def test_wide_qrs_widens_the_width_feature_and_premature_beats_lower_prematurity():
    features = beat_features(_beats(["N", "V", "S"], np.random.default_rng(0), noise=0.0), BEFORE, FS)
    assert features.shape == (3, len(FEATURES)) and np.isfinite(features).all()
    width = features[:, _column("qrs_width_s")]
    assert width[1] > 2 * width[0] and abs(width[2] - width[0]) < 0.01
    prematurity = features[:, _column("prev_rr/local_rr")]
    assert prematurity[0] == pytest.approx(1.0, abs=0.06) and prematurity[1] < 0.75 and prematurity[2] < 0.75
    assert features[1, _column("qrs_area")] > 2 * features[0, _column("qrs_area")]


def test_too_short_a_window_is_one_clear_error():
    with pytest.raises(SigattnError, match=r"data.beat_before/beat_after: .* need 36 samples before"):
        beat_features(_beats(["N"], np.random.default_rng(0)), 20, FS)


def test_fit_separates_easy_synthetic_beats():
    rng = np.random.default_rng(1)
    kinds = ["N"] * 60 + ["S"] * 20 + ["V"] * 20
    splits = {name: _beats(kinds, rng) for name in ("train", "val", "test")}
    cfg = load_config(None, ["data.dataset=mitdb"])
    metrics = fit_linear_ecg(cfg, _prepared(splits))
    assert metrics["accuracy"] > 0.95 and metrics["se_V"] > 0.9 and metrics["se_S"] > 0.9 and metrics["ppv_V"] > 0.9
    assert metrics["params"] > 0 and metrics["latency_ms_cpu"] > 0


class _Recorder:
    """A tracker that keeps the logged metrics; everything else is ignored."""

    def __init__(self) -> None:
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.logged: list[str] = []

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.metrics.append((step, dict(metrics)))

    def log_dict(self, data: dict, name: str) -> None:
        self.logged.append(name)

    def log_figure(self, figure: object, name: str) -> None:
        self.logged.append(name)


def test_the_classifier_is_chosen_on_val_and_test_labels_change_nothing():
    rng = np.random.default_rng(2)
    kinds = ["N"] * 40 + ["S"] * 20 + ["V"] * 20
    splits = {name: _beats(kinds, rng, noise=0.6) for name in ("train", "val", "test")}  # hard: candidates differ
    cfg = load_config(None, ["data.dataset=mitdb", "train.monitor=val_macro_f1"])
    recorder = _Recorder()
    first = fit_linear_ecg(cfg, _prepared(splits), recorder)
    val_scores = [m["val_macro_f1"] for step, m in recorder.metrics if step < len(CANDIDATES)]
    assert len(set(val_scores)) > 1  # the choice is not a tie
    assert first["candidate"] == int(np.argmax(val_scores))
    assert {"reports/test_report.json", "plots/confusion_test.png"} <= set(recorder.logged)
    test = splits["test"]
    scrambled = {**splits, "test": Windows(**{**test.__dict__, "y": rng.permutation(test.y)})}
    second = fit_linear_ecg(cfg, _prepared(scrambled))
    assert (second["candidate"], second["classifier"]) == (first["candidate"], first["classifier"])


def test_a_dataset_without_beats_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path))
    cfg = load_config(None, ["data.synthetic.n_per_class=3", "data.synthetic.seconds=1.0"])
    with pytest.raises(SigattnError, match=r"^the dechazal baseline needs ECG beats \(data.dataset 'mitdb'\)"):
        fit_linear_ecg(cfg, prepare(cfg.data))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"name": "p", "baselines": ["dechazal"]}))
    with pytest.raises(SigattnError, match=r"baseline dechazal needs ECG beats .*got 'synthetic'"):
        load_pipeline(tmp_path / "p.yaml")


def test_dechazal_runs_as_a_pipeline_child_on_a_few_mitdb_records(
    real_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from mlflow.tracking import MlflowClient

    from sigattn import tracking
    from sigattn.data import prepare as prepare_module
    from sigattn.experiments.cell_run import run_cell

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(prepare_module, "DS1", ("119", "209", "223", "118"))
    monkeypatch.setattr(prepare_module, "DS2", ("200",))
    spec = {
        "name": "dechazal",
        "base": {
            "data": {"dataset": "mitdb", "data_dir": str(real_data_dir), "rr_features": True},
            "tracking": {"experiment": "ecg"},
        },
        "grid": {"train.seed": [0]},
        "baselines": ["dechazal"],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    cell = next(c for c in load_pipeline(tmp_path / "p.yaml").cells if c.baseline == "dechazal")
    with tracking.tracked_run(cell.config.tracking, run_name="dechazal") as parent:  # the pipeline's parent run
        outcome = run_cell(cell.config.to_dict(), cell.key, cell.digest, cell.label, parent.run_id, cell.baseline)
    assert outcome["status"] == "finished", outcome
    assert 0 <= outcome["metrics"]["macro_f1"] <= 1 and outcome["metrics"]["params"] > 0
    client = MlflowClient("sqlite:///" + (tmp_path / "mlflow.db").as_posix())
    child = client.get_run(outcome["run_id"])
    assert child.data.tags["backbone"] == "dechazal" and child.data.tags["block"] == "-"
    assert child.data.tags["sigattn.baseline"] == "dechazal" and child.data.tags["mlflow.parentRunId"] == parent.run_id
    assert child.info.run_name == "mitdb-5c/dechazal/seed0"
    metrics = child.data.metrics
    assert 0 <= metrics["test_se_V"] <= 1 and 0 <= metrics["test_ppv_V"] <= 1 and 0 <= metrics["test_macro_f1"] <= 1
    assert metrics["test_se_V"] > 0.3  # records 200 and 232 hold ~800 V beats; chance for 5 classes is 0.2
