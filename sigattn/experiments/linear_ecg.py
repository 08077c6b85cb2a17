"""The de Chazal baseline: a linear classifier on RR intervals and a few beat morphology features.

de Chazal, O'Dwyer and Reilly (2004, IEEE TBME 51:1196) classified MIT-BIH beats inter-patient
(DS1 -> DS2) with a class-weighted linear discriminant on RR intervals and QRS/T morphology.
Here the same kind of features feed a `StandardScaler` fitted on train and, always class-weighted,
either a linear discriminant with equal class priors (shrinkage from `SHRINKAGES`) or a logistic
regression with `class_weight="balanced"` (inverse penalty from `LOGREG_C`). The variant and its
regularisation are chosen on the validation split by `train.monitor` (accuracy when it is
`val_loss`), never on test. Needs ECG beats (`data.dataset: mitdb`): R peak at `beat_before`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sigattn.config import RunConfig
from sigattn.data.prepare import Prepared
from sigattn.data.types import Windows
from sigattn.data.windows import take
from sigattn.errors import SigattnError
from sigattn.evaluate.figures import confusion_figure
from sigattn.evaluate.metrics import classification_metrics, flat_metrics
from sigattn.evaluate.predict import window_metrics
from sigattn.train.tracker import NullTracker, Tracker

QRS_SPAN_S = (-0.05, 0.10)  # de Chazal: 10 QRS samples at 60 Hz from 50 ms before the R peak
T_SPAN_S = (0.15, 0.55)  # and 9 T-wave samples at 20 Hz from 150 ms after it (cut at the window end)
WIDTH_SEARCH_S = (-0.10, 0.15)  # where the QRS onset and offset are looked for
MIN_BEFORE_S, MIN_AFTER_S = 0.10, 0.35  # the least window around the R peak these features need
QRS_SAMPLES, T_SAMPLES = 10, 9
SHRINKAGES: tuple[float, ...] = (0.0, 0.01, 0.1, 0.3)
LOGREG_C: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
CANDIDATES: tuple[tuple[str, float], ...] = (
    *(("lda", s) for s in SHRINKAGES),
    *(("logreg", c) for c in LOGREG_C),
)
FEATURES: tuple[str, ...] = (
    "prev_rr_s",  # RR interval before the beat (s)
    "next_rr_s",  # RR interval after the beat (s)
    "local_rr_s",  # mean of the last 10 RR intervals (s)
    "mean_rr_s",  # record-average RR (s)
    "prev_rr/mean_rr",  # previous RR normalised by the record
    "next_rr/mean_rr",  # next RR normalised by the record
    "local_rr/mean_rr",  # local RR normalised by the record
    "prev_rr/local_rr",  # prematurity: < 1 for an early beat
    "next_rr/prev_rr",  # compensatory pause: > 1 after an early beat
    "qrs_width_s",  # onset to offset of the smoothed slope above 15 % of its peak (s)
    "r_amplitude",  # signal at the R peak minus the beat's median (baseline)
    "qrs_min",  # deepest Q/S deflection below the baseline over the QRS span
    "qrs_area",  # sum of |signal - baseline| over the QRS span, times 1/fs
    "qrs_energy",  # mean squared deviation from the baseline over the QRS span
    "t_energy",  # mean squared deviation from the baseline over the T span
    *(f"qrs_{i}" for i in range(QRS_SAMPLES)),  # QRS span resampled to 10 points
    *(f"t_{i}" for i in range(T_SAMPLES)),  # T span resampled to 9 points
)


def _rr_features(rr: np.ndarray) -> np.ndarray:
    prev, nxt, local, mean = (np.maximum(rr[:, i], 1e-3) for i in range(4))
    return np.stack([prev, nxt, local, mean, prev / mean, nxt / mean, local / mean, prev / local, nxt / prev], 1)


def _resampled(x: np.ndarray, start: float, stop: float, n: int) -> np.ndarray:
    """(N, n) linear interpolation of each row of `x` at `n` points from sample `start` to `stop`."""
    points = np.linspace(start, stop, n)
    low = np.clip(np.floor(points).astype(int), 0, x.shape[1] - 1)
    high = np.minimum(low + 1, x.shape[1] - 1)
    frac = points - low
    return x[:, low] * (1 - frac) + x[:, high] * frac


def _qrs_width(x: np.ndarray, r: int, fs: float) -> np.ndarray:
    """(N,) seconds around the R peak where the slope, smoothed over 30 ms, stays above 15 % of its peak."""
    lo, hi = (r + round(s * fs) for s in WIDTH_SEARCH_S)
    slope = uniform_filter1d(np.abs(np.diff(x[:, lo : hi + 1], axis=1)), max(1, round(0.03 * fs)), axis=1)
    active = slope >= 0.15 * slope.max(1, keepdims=True)
    centre = r - lo
    left = np.cumprod(active[:, :centre][:, ::-1], axis=1).sum(1)
    right = np.cumprod(active[:, centre:], axis=1).sum(1)
    return (left + right) / fs


def beat_features(windows: Windows, before: int, fs: float) -> np.ndarray:
    """(N, len(FEATURES)) float64 features of beats whose R peak is at sample `before` of each window
    and whose RR intervals are `windows.features` (seconds; see FEATURES). Morphology comes from the
    middle channel: the one lead, also when neighbour context stacks previous | beat | next."""
    if windows.features is None or windows.features.ndim != 2 or windows.features.shape[1] != 4:
        raise SigattnError("the dechazal baseline needs beats with (N, 4) RR features; use data.dataset 'mitdb'")
    length = windows.x.shape[-1]
    if before < MIN_BEFORE_S * fs or length - before - 1 < MIN_AFTER_S * fs:
        need = f"{round(MIN_BEFORE_S * fs)} samples before and {round(MIN_AFTER_S * fs) + 1} after"
        raise SigattnError(
            f"data.beat_before/beat_after: the dechazal features need {need} the R peak; got {before}/{length - before}"
        )
    x = windows.x[:, windows.x.shape[1] // 2, :].astype(np.float64)
    x = x - np.median(x, axis=1, keepdims=True)
    q0, q1 = (before + s * fs for s in QRS_SPAN_S)
    t0, t1 = before + T_SPAN_S[0] * fs, min(before + T_SPAN_S[1] * fs, length - 1)
    qrs = x[:, int(np.floor(q0)) : int(np.ceil(q1)) + 1]
    t_wave = x[:, int(np.floor(t0)) : int(np.ceil(t1)) + 1]
    morphology = [
        _qrs_width(x, before, fs),
        x[:, before],
        qrs.min(1),
        np.abs(qrs).sum(1) / fs,
        np.square(qrs).mean(1),
        np.square(t_wave).mean(1),
    ]
    parts = [
        _rr_features(np.asarray(windows.features, dtype=np.float64)),
        np.stack(morphology, 1),
        _resampled(x, q0, q1, QRS_SAMPLES),
        _resampled(x, t0, t1, T_SAMPLES),
    ]
    return np.hstack(parts)


def _classifier(kind: str, value: float, n_classes: int, seed: int) -> Any:
    if kind == "lda":  # equal priors: every class weighs the same in the decision, as in de Chazal
        return LinearDiscriminantAnalysis(solver="lsqr", shrinkage=value, priors=np.full(n_classes, 1 / n_classes))
    # newton-cholesky: few, exact steps for many beats and few features (lbfgs needs ~10x the time)
    return LogisticRegression(
        C=value, class_weight="balanced", solver="newton-cholesky", max_iter=200, random_state=seed
    )


def _split(prepared: Prepared, name: str, dataset: str) -> Windows:
    w = prepared.splits[name]
    if len(w) == 0:
        raise SigattnError(f"the {name} split of dataset {dataset!r} is empty; adjust data.split")
    return w


def _best_seconds(fn: Callable[[], Any], repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fit_linear_ecg(cfg: RunConfig, prepared: Prepared, tracker: Tracker | None = None) -> dict[str, Any]:
    """Fit every candidate of CANDIDATES on train, keep the best on val, evaluate it on
    `train.report_split` (test, or val, which then also picked it: optimistic); returns its metrics plus
    `params` (weights and biases) and `latency_ms_cpu` (one beat, features + scaler + classifier)."""
    if not cfg.data.ecg:
        raise SigattnError(f"the dechazal baseline needs ECG beats (data.dataset 'mitdb'); got {cfg.data.dataset!r}")
    tracker = tracker if tracker is not None else NullTracker()
    split = cfg.train.report_split
    train, val, test = (_split(prepared, s, cfg.data.dataset) for s in ("train", "val", split))
    fs = prepared.fs
    before = cfg.data.beat_samples(fs)[0]

    def features(w: Windows) -> np.ndarray:
        return beat_features(w, before, fs)

    scaler = StandardScaler().fit(features(train))
    z_train, z_val = scaler.transform(features(train)), scaler.transform(features(val))
    n_present = len(np.unique(train.y))
    monitor = cfg.train.monitor.removeprefix("val_")
    history = []
    for step, (kind, value) in enumerate(CANDIDATES):
        model = _classifier(kind, value, n_present, cfg.train.seed).fit(z_train, train.y)
        metrics = classification_metrics(val.y, model.predict(z_val), val.classes, ecg=cfg.data.ecg)
        history.append((metrics["accuracy"] if monitor == "loss" else metrics[monitor], -step, model))
        tracker.log_metrics({**flat_metrics("val", metrics), "candidate": float(step)}, step=step)
    best_value, minus_step, model = max(history, key=lambda h: h[:2])  # ties: the earlier candidate
    kind, value = CANDIDATES[-minus_step]
    predicted = model.predict(scaler.transform(features(test)))
    test_metrics = window_metrics(test, predicted, ecg=cfg.data.ecg)
    one = take(test, np.arange(1))
    latency = _best_seconds(lambda: model.predict(scaler.transform(features(one))))
    extra = {
        "params": float(model.coef_.size + model.intercept_.size),
        "latency_ms_cpu": latency * 1e3,
        "candidate": float(-minus_step),
        "best_val": best_value,
    }
    tracker.log_metrics({**flat_metrics(cfg.train.report_prefix, test_metrics), **extra}, step=len(CANDIDATES))
    chosen = {"classifier": kind, "shrinkage" if kind == "lda" else "C": value}
    report = {"baseline": "dechazal", **chosen, "features": list(FEATURES), **extra, **test_metrics}
    tracker.log_dict(report, f"reports/{split}_report.json")
    title = f"dechazal: {split} ({kind} {value:g})"
    figure = confusion_figure(test_metrics["confusion"], prepared.classes, title)
    tracker.log_figure(figure, f"plots/confusion_{split}.png")
    return {**test_metrics, **extra, **chosen}
