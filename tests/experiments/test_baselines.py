"""The MiniRocket baseline: scikit-learn's ridge with the penalty chosen on val, and the missing-extra error."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sigattn.config import load_config
from sigattn.data.prepare import prepare
from sigattn.errors import SigattnError
from sigattn.evaluate.metrics import classification_metrics
from sigattn.experiments.baselines import ALPHAS, _features, _minirocket_class, choose_ridge, fit_minirocket


def _imbalanced(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.8, 0.15, 0.05])
    return rng.normal(size=(n, 30)) + 0.8 * y[:, None] * (np.arange(30) < 5) + 2.0, y


@pytest.mark.parametrize("balanced", [False, True])
def test_chosen_ridge_is_the_sklearn_fit_at_the_penalty_val_prefers(balanced: bool):
    (x, y), (x_val, _), (x_test, _) = (_imbalanced(s, n) for s, n in ((0, 200), (1, 60), (2, 80)))
    favourite = ALPHAS[3]
    seen = []

    def val_score(alpha: float, predicted: np.ndarray) -> float:
        seen.append((alpha, len(predicted)))
        return 1.0 if alpha == favourite else 0.5

    choice = choose_ridge(x, y, x_val, val_score, balanced=balanced)
    assert seen == [(a, len(x_val)) for a in ALPHAS]  # every penalty scored on the val windows
    assert choice.alpha == favourite and choice.best_val == 1.0
    direct = RidgeClassifier(alpha=favourite, class_weight="balanced" if balanced else None)
    reference = make_pipeline(StandardScaler(), direct).fit(x, y)
    np.testing.assert_array_equal(choice.model.predict(x_test), reference.predict(x_test))
    other = RidgeClassifier(alpha=favourite, class_weight=None if balanced else "balanced")
    assert (make_pipeline(StandardScaler(), other).fit(x, y).predict(x_test) != reference.predict(x_test)).any()


def test_val_ties_go_to_the_strongest_penalty():
    (x, y), (x_val, _) = _imbalanced(0, 100), _imbalanced(1, 20)
    assert choose_ridge(x, y, x_val, lambda alpha, predicted: 0.7, balanced=False).alpha == max(ALPHAS)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_minirocket_test_metrics_are_a_direct_sklearn_fit_at_the_val_choice():
    pytest.importorskip("aeon", reason="the minirocket baseline needs the baselines extra (aeon)")
    cfg = load_config(None, ["data.synthetic.n_per_class=6", "data.synthetic.seconds=1.0", "train.balance=none"])
    prepared = prepare(cfg.data)
    metrics = fit_minirocket(cfg, prepared, n_kernels=840)
    train, val, test = (prepared.splits[s] for s in ("train", "val", "test"))
    transform = _minirocket_class()(n_kernels=840, random_state=cfg.train.seed, n_jobs=1).fit(train.x)
    features = {name: _features(transform, w.x, w.side) for name, w in (("train", train), ("val", val), ("test", test))}

    def fitted(alpha: float):
        return make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha)).fit(features["train"], train.y)

    val_f1 = [
        (classification_metrics(val.y, fitted(a).predict(features["val"]), val.classes)["macro_f1"], a) for a in ALPHAS
    ]
    assert cfg.train.monitor == "val_macro_f1" and (metrics["best_val"], metrics["alpha"]) == max(val_f1)
    direct = classification_metrics(test.y, fitted(metrics["alpha"]).predict(features["test"]), test.classes)
    assert (metrics["accuracy"], metrics["macro_f1"]) == (direct["accuracy"], direct["macro_f1"])
    assert metrics["params"] == 840 // 84 * 84 * 4 + 4  # 4 classes: weights and intercepts


def test_minirocket_fits_on_synthetic_and_picks_alpha_on_val():
    pytest.importorskip("aeon", reason="the minirocket baseline needs the baselines extra (aeon)")
    cfg = load_config(None, ["data.synthetic.n_per_class=6", "data.synthetic.seconds=1.0"])
    metrics = fit_minirocket(cfg, prepare(cfg.data), n_kernels=840)
    assert metrics["accuracy"] > 0.5  # four classes: chance is 0.25
    assert metrics["params"] > 0 and metrics["latency_ms_cpu"] > 0 and metrics["alpha"] in ALPHAS


def test_missing_aeon_is_one_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "aeon", None)
    monkeypatch.setitem(sys.modules, "aeon.transformations.collection.convolution_based", None)
    cfg = load_config(None, ["data.synthetic.n_per_class=3", "data.synthetic.seconds=1.0"])
    with pytest.raises(SigattnError, match=r"pip install 'sigattn\[baselines\]'"):
        fit_minirocket(cfg, prepare(cfg.data))
