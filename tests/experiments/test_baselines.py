"""The MiniRocket baseline: its ridge solver, penalty choice on val, and the missing-extra error."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from sigattn.config import load_config
from sigattn.data.prepare import prepare
from sigattn.errors import SigattnError
from sigattn.experiments.baselines import RidgeOnFeatures, fit_minirocket


@pytest.mark.parametrize("n", [40, 400])  # dual (n < F) and primal (n >= F) solutions
def test_ridge_matches_sklearn_on_standardised_features(n: int):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(n, 60)) * rng.uniform(0.5, 3, size=60) + 1.0
    y = rng.integers(0, 3, size=n)
    ridge = RidgeOnFeatures.fit(features, y, 3, None)
    targets = -np.ones((n, 3))
    targets[np.arange(n), y] = 1.0
    z = (features - features.mean(0)) / (features.std(0) + 1e-6)
    for alpha in (0.1, 10.0):
        reference = Ridge(alpha=alpha, fit_intercept=False).fit(z, targets).coef_.T
        np.testing.assert_allclose(ridge.coef(alpha), reference, rtol=1e-3, atol=1e-4)


def test_sample_weights_act_like_repeated_samples():
    rng = np.random.default_rng(1)
    features, y = rng.normal(size=(30, 8)), rng.integers(0, 2, size=30)
    weights = np.where(np.arange(30) < 10, 2.0, 1.0)
    repeated = np.r_[features, features[:10]]
    weighted = RidgeOnFeatures.fit(features, y, 2, weights)
    plain = RidgeOnFeatures.fit(repeated, np.r_[y, y[:10]], 2, None)
    # same data moments up to the standardisation, so compare predictions' argmax on the inputs
    w_pred = weighted.scores(features, weighted.coef(1.0)).argmax(1)
    p_pred = plain.scores(features, plain.coef(1.0)).argmax(1)
    assert (w_pred == p_pred).mean() > 0.9


def test_minirocket_fits_on_synthetic_and_picks_alpha_on_val():
    pytest.importorskip("aeon", reason="the minirocket baseline needs the baselines extra (aeon)")
    cfg = load_config(None, ["data.synthetic.n_per_class=6", "data.synthetic.seconds=1.0"])
    metrics = fit_minirocket(cfg, prepare(cfg.data), n_kernels=840)
    assert metrics["accuracy"] > 0.5  # four classes: chance is 0.25
    assert metrics["params"] > 0 and metrics["latency_ms_cpu"] > 0 and metrics["alpha"] > 0


def test_missing_aeon_is_one_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "aeon", None)
    monkeypatch.setitem(sys.modules, "aeon.transformations.collection.convolution_based", None)
    cfg = load_config(None, ["data.synthetic.n_per_class=3", "data.synthetic.seconds=1.0"])
    with pytest.raises(SigattnError, match=r"pip install 'sigattn\[baselines\]'"):
        fit_minirocket(cfg, prepare(cfg.data))
