"""MiniRocket (aeon) on the same windows as the CNNs: the cheap, strong baseline of every table.

MiniRocket turns each window into ~10k PPV features with fixed random kernels; scikit-learn's
`StandardScaler` + `RidgeClassifier` read them (Dempster et al.'s recipe and penalty grid). One
classifier is fitted per penalty and the one whose validation predictions score best by the
configured `train.monitor` (accuracy when it is `val_loss`, which a ridge does not have) is kept;
test is never looked at. `RidgeClassifierCV`'s leave-one-out over training windows is not used:
neighbouring windows overlap or share a patient, and on MIT-BIH DS1 it took 35 min and 15 GB
(docs/training.md). With `train.balance` other than `none` the classes are weighted
(`class_weight="balanced"`); with `data.rr_features` the beats' RR features (`Windows.side`) are
appended to the MiniRocket features. Needs the optional `baselines` extra
(`pip install 'sigattn[baselines]'`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import LinAlgWarning
from sklearn.linear_model import RidgeClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sigattn.config import RunConfig
from sigattn.data.prepare import Prepared
from sigattn.data.types import Windows
from sigattn.data.windows import take
from sigattn.errors import SigattnError
from sigattn.evaluate.figures import confusion_figure
from sigattn.evaluate.metrics import flat_metrics
from sigattn.evaluate.predict import window_metrics
from sigattn.train.tracker import NullTracker, Tracker

BASELINES: tuple[str, ...] = ("wdcnn", "minirocket")
ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 10))  # Dempster et al. 2021


def _minirocket_class():
    try:
        from aeon.transformations.collection.convolution_based import MiniRocket
    except ImportError:
        raise SigattnError("the minirocket baseline needs the aeon package: pip install 'sigattn[baselines]'") from None
    return MiniRocket


@dataclass(frozen=True)
class RidgeChoice:
    """The ridge chosen on validation: scaler + classifier, its penalty and validation score."""

    model: Pipeline
    alpha: float
    best_val: float


def choose_ridge(
    train_features: np.ndarray,
    train_y: np.ndarray,
    val_features: np.ndarray,
    val_score: Callable[[float, np.ndarray], float],
    *,
    balanced: bool,
) -> RidgeChoice:
    """Standardise on train, fit a `RidgeClassifier` per penalty in ALPHAS and keep the one whose
    validation predictions get the highest `val_score(alpha, predicted)` (ties: the stronger penalty)."""
    scaler = StandardScaler().fit(train_features)
    scaled_train, scaled_val = scaler.transform(train_features), scaler.transform(val_features)
    candidates = []
    for alpha in ALPHAS:
        with warnings.catch_warnings():  # ill-conditioned at small penalties on ~10k correlated features
            warnings.simplefilter("ignore", LinAlgWarning)
            warnings.filterwarnings("ignore", "Singular matrix in solving dual problem", UserWarning)
            ridge = RidgeClassifier(alpha=alpha, class_weight="balanced" if balanced else None)
            ridge.fit(scaled_train, train_y)
        candidates.append((val_score(alpha, ridge.predict(scaled_val)), alpha, ridge))
    best_val, alpha, ridge = max(candidates, key=lambda c: (c[0], c[1]))
    return RidgeChoice(Pipeline([("scale", scaler), ("ridge", ridge)]), alpha, best_val)


def _features(transform: Any, x: np.ndarray, side: np.ndarray | None) -> np.ndarray:
    """MiniRocket features of the signal windows, then the side features (if any)."""
    out = np.asarray(transform.transform(np.ascontiguousarray(x, dtype=np.float32)), dtype=np.float32)
    return out if side is None else np.hstack([out, side.astype(np.float32)])


def _metrics(w: Windows, predicted: np.ndarray, ecg: bool, *, per_record: bool = True) -> dict[str, Any]:
    return window_metrics(w, predicted, ecg=ecg, per_record=per_record)


def fit_minirocket(
    cfg: RunConfig, prepared: Prepared, tracker: Tracker | None = None, *, n_kernels: int = 10_000
) -> dict[str, Any]:
    """Fit MiniRocket + ridge on train, pick the penalty on val, evaluate on `train.report_split` (test,
    or val, which then also picked the penalty: optimistic); returns its metrics plus `params` (ridge weights and
    intercepts) and `latency_ms_cpu` (one window, features + ridge)."""
    tracker = tracker if tracker is not None else NullTracker()
    split = cfg.train.report_split
    train, val, test = (prepared.splits[s] for s in ("train", "val", split))
    for name, w in (("train", train), ("val", val), (split, test)):
        if len(w) == 0:
            raise SigattnError(f"the {name} split of dataset {cfg.data.dataset!r} is empty; adjust data.split")
    transform = _minirocket_class()(n_kernels=n_kernels, random_state=cfg.train.seed, n_jobs=-1)
    transform.fit(np.ascontiguousarray(train.x, dtype=np.float32))
    monitor = cfg.train.monitor.removeprefix("val_")

    def val_score(alpha: float, predicted: np.ndarray) -> float:
        metrics = _metrics(val, predicted, cfg.data.ecg, per_record=False)
        tracker.log_metrics({**flat_metrics("val", metrics), "alpha": alpha}, step=ALPHAS.index(alpha))
        return metrics["accuracy"] if monitor == "loss" else metrics[monitor]

    choice = choose_ridge(
        _features(transform, train.x, train.side),
        train.y,
        _features(transform, val.x, val.side),
        val_score,
        balanced=cfg.train.balance != "none",  # both balancing modes become class weights here
    )
    test_metrics = _metrics(test, choice.model.predict(_features(transform, test.x, test.side)), cfg.data.ecg)
    one = take(test, np.arange(1))
    latency = min(_timed(lambda: choice.model.predict(_features(transform, one.x, one.side))) for _ in range(20))
    ridge = choice.model[-1]
    extra = {
        "params": float(ridge.coef_.size + ridge.intercept_.size),
        "latency_ms_cpu": latency * 1e3,
        "alpha": choice.alpha,
        "best_val": choice.best_val,
    }
    tracker.log_metrics({**flat_metrics(cfg.train.report_prefix, test_metrics), **extra}, step=len(ALPHAS))
    tracker.log_dict({"baseline": "minirocket", "n_kernels": n_kernels, **extra, **test_metrics},
                     f"reports/{split}_report.json")  # fmt: skip
    title = f"minirocket: {split} (alpha {choice.alpha:g})"
    figure = confusion_figure(test_metrics["confusion"], prepared.classes, title)
    tracker.log_figure(figure, f"plots/confusion_{split}.png")
    return {**test_metrics, **extra}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
