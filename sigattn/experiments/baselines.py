"""MiniRocket (aeon) on the same windows as the CNNs: the cheap, strong baseline of every table.

MiniRocket turns each window into ~10k PPV features with fixed random kernels; a ridge
classifier (one-vs-rest on ±1 targets) reads them. The ridge penalty is chosen on the
validation split by the configured `train.monitor` (accuracy when it is `val_loss`, which a
ridge does not have), never on test. With `data.rr_features` the beats' RR features
(`Windows.side`) are appended to the MiniRocket features. Needs the optional `baselines` extra
(`pip install 'sigattn[baselines]'`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from sigattn.config import RunConfig
from sigattn.data.prepare import Prepared
from sigattn.data.types import Windows
from sigattn.data.windows import take
from sigattn.errors import SigattnError
from sigattn.evaluate.figures import confusion_figure
from sigattn.evaluate.metrics import classification_metrics, flat_metrics
from sigattn.train.tracker import NullTracker, Tracker

BASELINES: tuple[str, ...] = ("wdcnn", "minirocket")
ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 4, 15))


def _minirocket_class():
    try:
        from aeon.transformations.collection.convolution_based import MiniRocket
    except ImportError:
        raise SigattnError("the minirocket baseline needs the aeon package: pip install 'sigattn[baselines]'") from None
    return MiniRocket


@dataclass
class RidgeOnFeatures:
    """Standardised features -> ±1 one-vs-rest ridge, solved once for every penalty.

    With A = weighted features (n, F) and B = weighted targets (n, K), the weights for penalty a
    are `left @ (right / (eigvals + a))`: from the eigenvectors of A^T A when n >= F (primal),
    of A A^T otherwise (dual), whichever matrix is smaller."""

    mean: np.ndarray
    scale: np.ndarray
    eigvals: np.ndarray
    left: np.ndarray
    right: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, y: np.ndarray, n_classes: int, weights: np.ndarray | None) -> RidgeOnFeatures:
        mean = features.mean(0)
        scale = features.std(0) + 1e-6
        root = np.ones(len(y)) if weights is None else np.sqrt(weights)
        a = (((features - mean) / scale) * root[:, None]).astype(np.float32)
        b = -np.ones((len(y), n_classes))
        b[np.arange(len(y)), y] = 1.0
        b *= root[:, None]
        if a.shape[0] >= a.shape[1]:
            eigvals, q = np.linalg.eigh((a.T @ a).astype(np.float64))
            left, right = q, q.T @ (a.T.astype(np.float64) @ b)
        else:
            eigvals, u = np.linalg.eigh((a @ a.T).astype(np.float64))
            left, right = a.T.astype(np.float64) @ u, u.T @ b
        return cls(mean, scale, np.maximum(eigvals, 0.0), left, right)

    def coef(self, alpha: float) -> np.ndarray:
        """(F, K) ridge weights for penalty `alpha`."""
        return self.left @ (self.right / (self.eigvals + alpha)[:, None])

    def scores(self, features: np.ndarray, coef: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ coef


def _features(transform: Any, x: np.ndarray, side: np.ndarray | None) -> np.ndarray:
    """MiniRocket features of the signal windows, then the side features (if any)."""
    out = np.asarray(transform.transform(np.ascontiguousarray(x, dtype=np.float32)), dtype=np.float32)
    return out if side is None else np.hstack([out, side.astype(np.float32)])


def _metrics(w: Windows, predicted: np.ndarray, ecg: bool) -> dict[str, Any]:
    return classification_metrics(w.y, predicted, w.classes, ecg=ecg)


def fit_minirocket(
    cfg: RunConfig, prepared: Prepared, tracker: Tracker | None = None, *, n_kernels: int = 10_000
) -> dict[str, Any]:
    """Fit MiniRocket + ridge on train, pick the penalty on val, evaluate on test; returns the test
    metrics plus `params` (ridge weights) and `latency_ms_cpu` (one window, features + ridge)."""
    tracker = tracker if tracker is not None else NullTracker()
    train, val, test = (prepared.splits[s] for s in ("train", "val", "test"))
    for name, w in (("train", train), ("val", val), ("test", test)):
        if len(w) == 0:
            raise SigattnError(f"the {name} split of dataset {cfg.data.dataset!r} is empty; adjust data.split")
    transform = _minirocket_class()(n_kernels=n_kernels, random_state=cfg.train.seed, n_jobs=-1)
    transform.fit(np.ascontiguousarray(train.x, dtype=np.float32))
    counts = np.bincount(train.y, minlength=len(prepared.classes))
    weights = None
    if cfg.train.balance != "none":  # both balancing modes become per-sample weights here
        weights = (len(train.y) / (np.count_nonzero(counts) * np.maximum(counts, 1)))[train.y]
    ridge = RidgeOnFeatures.fit(_features(transform, train.x, train.side), train.y, len(prepared.classes), weights)
    val_features = _features(transform, val.x, val.side)
    monitor = cfg.train.monitor.removeprefix("val_")
    history = []
    for step, alpha in enumerate(ALPHAS):
        scores = ridge.scores(val_features, ridge.coef(alpha))
        metrics = _metrics(val, scores.argmax(1), cfg.data.ecg)
        history.append((metrics["accuracy"] if monitor == "loss" else metrics[monitor], alpha))
        tracker.log_metrics({**flat_metrics("val", metrics), "alpha": alpha}, step=step)
    best_value, alpha = max(history, key=lambda h: (h[0], h[1]))  # ties: the stronger penalty
    coef = ridge.coef(alpha)
    test_scores = ridge.scores(_features(transform, test.x, test.side), coef)
    test_metrics = _metrics(test, test_scores.argmax(1), cfg.data.ecg)
    one = take(test, np.arange(1))
    latency = min(_timed(lambda: ridge.scores(_features(transform, one.x, one.side), coef)) for _ in range(20))
    extra = {"params": float(coef.size), "latency_ms_cpu": latency * 1e3, "alpha": alpha, "best_val": best_value}
    tracker.log_metrics({**flat_metrics("test", test_metrics), **extra}, step=len(ALPHAS))
    tracker.log_dict({"baseline": "minirocket", "n_kernels": n_kernels, **extra, **test_metrics},
                     "reports/test_report.json")  # fmt: skip
    title = f"minirocket: test (alpha {alpha:g})"
    tracker.log_figure(confusion_figure(test_metrics["confusion"], prepared.classes, title), "plots/confusion_test.png")
    return {**test_metrics, **extra}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
