"""An ensemble scores the mean of its members' class probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sigattn.data.types import Windows
from sigattn.evaluate.predict import evaluate, evaluate_ensemble


class Fixed(nn.Module):
    """A 'model' that gives every window the same class probabilities."""

    def __init__(self, probs: list[float]) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.log(torch.tensor(probs)), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1)


def windows(y: list[int]) -> Windows:
    n = len(y)
    return Windows(x=np.zeros((n, 1, 8), np.float32), y=np.array(y), classes=("a", "b"), groups=np.array(["r"] * n),
                   sources=np.array(["r"] * n), starts=np.arange(n) * 8, fs=100.0)  # fmt: skip


def test_the_mean_of_the_probabilities_decides():
    w = windows([0, 0, 1])
    sure, unsure = Fixed([0.9, 0.1]), Fixed([0.3, 0.7])  # alone, `unsure` calls every window "b"
    metrics, probs = evaluate_ensemble([(sure, w), (unsure, w)])
    np.testing.assert_allclose(probs, [[0.6, 0.4]] * 3, rtol=1e-6)
    assert metrics["accuracy"] == pytest.approx(2 / 3)  # "a" everywhere
    assert metrics["loss"] == pytest.approx(-(2 * np.log(0.6) + np.log(0.4)) / 3, rel=1e-5)
    assert evaluate(unsure, w)[0]["accuracy"] == pytest.approx(1 / 3)


def test_one_member_is_plain_evaluate():
    w = windows([0, 1])
    alone, _ = evaluate(Fixed([0.2, 0.8]), w)
    assert evaluate_ensemble([(Fixed([0.2, 0.8]), w)])[0] == alone
