"""Training losses: focal and logit-adjusted against cross-entropy, and their choice in the config."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sigattn.config import TrainConfig
from sigattn.errors import SigattnError
from sigattn.train.losses import FocalLoss, LogitAdjustedLoss, make_criterion
from sigattn.train.optim import class_weights

CPU = torch.device("cpu")
COUNTS = np.array([90, 6, 4])


def data(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, generator=g) * 2, torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("balance", ["none", "weights"])
def test_default_is_the_plain_cross_entropy(balance):
    criterion = make_criterion(TrainConfig(balance=balance), COUNTS, CPU)
    assert type(criterion) is nn.CrossEntropyLoss
    logits, y = data()
    weight = class_weights(COUNTS) if balance == "weights" else None
    torch.testing.assert_close(criterion(logits, y), nn.functional.cross_entropy(logits, y, weight=weight))


@pytest.mark.parametrize("balance", ["none", "weights"])
def test_focal_with_gamma_zero_is_cross_entropy(balance):
    criterion = make_criterion(TrainConfig(loss="focal", focal_gamma=0.0, balance=balance), COUNTS, CPU)
    logits, y = data()
    weight = class_weights(COUNTS) if balance == "weights" else None
    torch.testing.assert_close(criterion(logits, y), nn.functional.cross_entropy(logits, y, weight=weight))


def test_focal_down_weights_easy_samples():
    focal, y = FocalLoss(gamma=2.0), torch.tensor([0])
    easy, hard = torch.tensor([[4.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    ce = nn.functional.cross_entropy
    assert focal(easy, y) / ce(easy, y) < 0.01 < 0.3 < focal(hard, y) / ce(hard, y)


def test_logit_adjusted_adds_tau_log_prior_to_the_logits():
    criterion = make_criterion(TrainConfig(loss="logit_adjusted", logit_tau=0.5), COUNTS, CPU)
    assert isinstance(criterion, LogitAdjustedLoss)
    logits, y = data()
    prior = torch.tensor(COUNTS / COUNTS.sum(), dtype=torch.float32)
    expected = nn.functional.cross_entropy(logits + 0.5 * prior.log(), y)
    torch.testing.assert_close(criterion(logits, y), expected)
    zero = make_criterion(TrainConfig(loss="logit_adjusted", logit_tau=0.0), COUNTS, CPU)
    torch.testing.assert_close(zero(logits, y), nn.functional.cross_entropy(logits, y))


def test_logit_adjustment_raises_the_loss_of_rare_classes_at_equal_logits():
    criterion = LogitAdjustedLoss(torch.tensor([0.9, 0.06, 0.04]), tau=1.0)
    logits = torch.zeros(1, 3)
    common, rare = criterion(logits, torch.tensor([0])), criterion(logits, torch.tensor([2]))
    assert rare > nn.functional.cross_entropy(logits, torch.tensor([2])) > common


def test_bad_loss_settings_are_one_line_errors():
    with pytest.raises(SigattnError, match="train.loss must be one of: cross_entropy, focal, logit_adjusted"):
        TrainConfig.from_dict({"loss": "dice"})
    with pytest.raises(SigattnError, match=r"train.focal_gamma must be a number in \[0, 10\]"):
        TrainConfig.from_dict({"focal_gamma": -1})


def test_the_configured_loss_is_the_one_the_loop_trains_with(tmp_path, monkeypatch):
    from sigattn.config import load_config
    from sigattn.data.prepare import prepare
    from sigattn.train import loop

    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    built: list[str] = []
    real = loop.make_criterion
    monkeypatch.setattr(loop, "make_criterion", lambda cfg, *a, **k: built.append(cfg.loss) or real(cfg, *a, **k))
    tiny = ["data.synthetic={n_per_class: 2, seconds: 0.5}", "data.window={length: 512, stride: 256}",
            "model.widths=[8, 8, 8, 8]", "train.epochs=1", "train.device=cpu", "train.quiet=true",
            f"train.checkpoint_dir={tmp_path}"]  # fmt: skip
    losses = {}
    for name in ("cross_entropy", "focal", "logit_adjusted"):
        cfg = load_config(None, [*tiny, f"train.loss={name}", "train.logit_tau=2"])
        losses[name] = loop.fit(cfg, prepare(cfg.data), progress=False).history[0]["train_loss"]
    assert built == ["cross_entropy", "focal", "logit_adjusted"]
    assert losses["focal"] < losses["cross_entropy"], "the focal loss is what the loop trained on"
