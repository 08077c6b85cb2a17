"""The served pyfunc in-process: raw windows in, `sigattn predict`'s labels and probabilities out."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from sigattn.config import load_config
from sigattn.data.side import RR_FEATURES, SideStats, rr_side_features
from sigattn.data.transforms import Pipeline
from sigattn.evaluate.files import predict_files
from sigattn.evaluate.predict import predict_proba
from sigattn.models.checkpoint import model_for, save_checkpoint
from sigattn.models.meta import BeatGeometry, ModelMeta
from sigattn.tracking.served import SigattnModel, signature

pytestmark = pytest.mark.usefixtures("one_thread")
CLASSES = ("N", "S", "V")
TRANSFORMS = ({"name": "bandpass", "low": 5.0, "high": 100.0}, {"name": "normalize"})


ENVELOPE = ({"name": "add_envelope", "low": 20.0, "high": 150.0}, {"name": "normalize"})


def _served(
    tmp_path: Path, *, beats: bool = False, amplitude: str = "window", transforms: tuple = TRANSFORMS
) -> SigattnModel:
    """A SigattnModel loaded from a fresh checkpoint: a sliding-window model, or a beat model with RR features."""
    model_cfg = load_config(None, ["model.widths=[8,8,8,8]", "model.block=se"]).to_dict()["model"]
    rr = np.random.default_rng(1).uniform(0.5, 1.2, size=(50, 4))
    meta = ModelMeta(
        model=model_cfg,
        in_channels=2 if transforms == ENVELOPE else 1,
        classes=CLASSES,
        fs=360.0,
        window_length=260,
        window_stride=None if beats else 130,
        transforms=tuple(Pipeline(list(transforms)).to_config()),
        dataset="mitdb" if beats else "synthetic",
        side_features=RR_FEATURES if beats else (),
        side_stats=SideStats.fit(rr_side_features(rr)).to_dict() if beats else None,
        beat=BeatGeometry("MLII", 90, 170) if beats else None,
        config={"data": {"amplitude": amplitude}},
    )
    path = save_checkpoint(tmp_path / "best.pt", model=model_for(meta).eval(), meta=meta)
    served = SigattnModel()
    served.load_context(SimpleNamespace(artifacts={"checkpoint": str(path)}))
    return served


def _windows(n: int = 3) -> np.ndarray:
    """Raw windows: a 30 Hz tone with an offset and noise, as a client would record them."""
    t = np.arange(260) / 360.0
    rng = np.random.default_rng(0)
    return (5 + 2 * np.sin(2 * np.pi * 30 * t) + rng.normal(size=(n, 1, 260))).astype(np.float32)


@pytest.mark.parametrize("transforms", [TRANSFORMS, ENVELOPE], ids=["filtered", "envelope-channel"])
def test_answers_like_sigattn_predict_on_the_same_samples(tmp_path: Path, transforms: tuple):
    served = _served(tmp_path, transforms=transforms)  # an envelope model still takes the plain signal
    x = _windows()
    files = []
    for i, window in enumerate(x):
        files.append(str(tmp_path / f"w{i}.npy"))
        np.save(files[-1], window)
    expected = predict_files(served.model, served.meta, files, fs=served.meta.fs).rows
    got = served.predict(None, x)
    assert list(got.columns) == ["label", "p_N", "p_S", "p_V"]
    assert list(got["label"]) == [row["predicted"] for row in expected]
    for c in CLASSES:
        np.testing.assert_allclose(got[f"p_{c}"], [row[f"p_{c}"] for row in expected], atol=1e-5)
    np.testing.assert_allclose(got[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0, rtol=1e-5)
    for named in ({"x": x}, pd.DataFrame({"x": list(x)})):  # named fields: a mapping or a DataFrame column
        pd.testing.assert_frame_equal(served.predict(None, named), got)


def test_beat_model_standardises_raw_rr_features_like_training(tmp_path: Path):
    served = _served(tmp_path, beats=True)
    x, side = _windows(), rr_side_features(np.random.default_rng(2).uniform(0.5, 1.2, size=(3, 4)))
    got = served.predict(None, {"x": x, "side": side})
    pipeline = Pipeline(list(served.meta.transforms))
    prepared = pipeline.apply_windows(pipeline.apply_record(x, served.meta.fs)[0], served.meta.fs)
    stats = SideStats.from_dict(served.meta.side_stats)
    expected = predict_proba(served.model, prepared, side=stats.apply(side))
    np.testing.assert_allclose(got[["p_N", "p_S", "p_V"]].to_numpy(), expected, atol=1e-6)
    unscaled = predict_proba(served.model, prepared, side=side)
    assert not np.allclose(unscaled, expected, atol=1e-4), "the standardisation matters to this model"


@pytest.mark.parametrize(
    ("beats", "request_of", "message"),
    [
        (False, lambda x, s: x[:, :, :200], r"x \(raw windows\) must have shape \(N, 1, 260\); got \(3, 1, 200\)"),
        (False, lambda x, s: np.concatenate([x, x], axis=1), r"must have shape \(N, 1, 260\); got \(3, 2, 260\)"),
        (False, lambda x, s: np.full(x.shape, "a"), "must hold numbers"),
        (False, lambda x, s: np.where(np.arange(260) == 7, np.nan, x), "NaN or infinite"),
        (False, lambda x, s: np.where(np.arange(260) == 7, np.inf, x), "NaN or infinite"),
        (False, lambda x, s: {"x": x, "side": s}, "reads no side features"),
        (False, lambda x, s: {"windows": x}, "unknown field"),
        (True, lambda x, s: x, r"also reads side features: send `side` \(N, 6\): prev_rr/mean_rr"),
        (True, lambda x, s: {"x": x, "side": s[:, :4]}, r"side \(raw side features\) must have shape \(N, 6\)"),
        (True, lambda x, s: {"x": x, "side": s[:2]}, "side has 2 rows but x has 3 windows"),
        (True, lambda x, s: {"x": x, "side": s * np.nan}, "side .* holds NaN"),
    ],
)
def test_bad_requests_are_one_line_invalid_parameter_errors(tmp_path: Path, beats, request_of, message):
    served = _served(tmp_path, beats=beats)
    side = rr_side_features(np.full((3, 4), 0.8))
    with pytest.raises(MlflowException, match=message) as info:
        served.predict(None, request_of(_windows(), side))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "\n" not in info.value.message


def test_beat_model_scaled_per_record_is_refused(tmp_path: Path):
    served = _served(tmp_path, beats=True, amplitude="record-median-r")
    side = rr_side_features(np.full((3, 4), 0.8))
    with pytest.raises(MlflowException, match="scales each record's beats together"):
        served.predict(None, {"x": _windows(), "side": side})


def test_signature_names_the_inputs_and_output_columns(tmp_path: Path):
    meta = _served(tmp_path, beats=True).meta
    sig = signature(meta)
    assert sig.inputs.input_names() == ["x", "side"]
    assert sig.outputs.input_names() == ["label", "p_N", "p_S", "p_V"]
