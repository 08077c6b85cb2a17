"""Whether windows are scored as ECG beats comes from the dataset, never from the class names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sigattn.config import load_config
from sigattn.data.types import Windows
from sigattn.evaluate.predict import evaluate


class Fixed(torch.nn.Module):
    """Predicts the class given by the first sample of each window."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(x[:, 0, 0].long(), 3).float() + 0 * self.unused


def test_a_manifest_labelled_n_f_q_keeps_q_in_its_macro_f1():
    classes = ("N", "F", "Q")
    y, predicted = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 0, 1, 1, 2, 0])  # one Q called N
    x = np.zeros((6, 1, 8), np.float32)
    x[:, 0, 0] = predicted
    names = np.array(["r"] * 6)
    windows = Windows(x, y, classes, names, names, np.arange(6), 1.0)
    manifest = load_config(None, ["data.dataset=manifest", "data.manifest=m.csv"]).data
    for plain, _ in (evaluate(Fixed(), windows), evaluate(Fixed(), windows, ecg=manifest.ecg)):
        assert "se_Q" not in plain and plain["macro_f1"] == pytest.approx(np.mean([0.8, 1.0, 2 / 3]))
    beats, _ = evaluate(Fixed(), windows, ecg=load_config(None, ["data.dataset=mitdb"]).data.ecg)
    assert beats["macro_f1"] == pytest.approx(0.9) and beats["se_Q"] == 0.5  # AAMI: Q is left out of the macro
