"""S and V sensitivity per record: hand-checked values, evaluate() and the flattened metric names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sigattn.data.types import Windows
from sigattn.errors import SigattnError
from sigattn.evaluate.metrics import classification_metrics, flat_metrics, per_record_sensitivity
from sigattn.evaluate.predict import evaluate

AAMI = ("N", "S", "V", "F", "Q")
N, S, V, F = 0, 1, 2, 3
GROUPS = ["100"] * 4 + ["232"] * 4 + ["101"] * 2 + ["200"] * 4
Y_TRUE = [N, S, S, V] + [S, S, S, N] + [N, N] + [V, V, V, V]
Y_PRED = [N, S, N, V] + [S, S, S, S] + [N, S] + [V, N, F, V]


def test_per_record_sensitivity_on_a_hand_checked_example():
    got = per_record_sensitivity(Y_TRUE, Y_PRED, np.array(GROUPS), AAMI)
    assert got == {
        "100": {"S": {"n": 2, "se": 0.5}, "V": {"n": 1, "se": 1.0}},
        "200": {"V": {"n": 4, "se": 0.5}},
        "232": {"S": {"n": 3, "se": 1.0}},
    }  # 101 holds only N beats; a record lists only the classes it holds
    assert per_record_sensitivity(Y_TRUE, Y_PRED, GROUPS, AAMI, of=("V",)) == {
        "100": {"V": {"n": 1, "se": 1.0}},
        "200": {"V": {"n": 4, "se": 0.5}},
    }


def test_per_record_sensitivity_refuses_bad_input():
    with pytest.raises(SigattnError, match="same length; got 14, 14 and 3"):
        per_record_sensitivity(Y_TRUE, Y_PRED, GROUPS[:3], AAMI)
    with pytest.raises(SigattnError, match=r"per-record classes \['S'\] are not among"):
        per_record_sensitivity([0, 1], [0, 1], ["a", "b"], ("N", "V"))


def test_flat_metrics_names_one_scalar_per_record_and_class():
    m = classification_metrics(Y_TRUE, Y_PRED, AAMI, ecg=True)
    m["per_record"] = per_record_sensitivity(Y_TRUE, Y_PRED, GROUPS, AAMI)
    flat = flat_metrics("test", m)
    records = {k: v for k, v in flat.items() if "record" in k}
    assert records == {
        "test_record_se_S/100": 0.5, "test_record_n_S/100": 2.0, "test_record_se_V/100": 1.0,
        "test_record_n_V/100": 1.0, "test_record_se_V/200": 0.5, "test_record_n_V/200": 4.0,
        "test_record_se_S/232": 1.0, "test_record_n_S/232": 3.0,
    }  # fmt: skip
    assert flat["test_se_S"] == pytest.approx(4 / 5) and "test_n" not in flat
    odd = flat_metrics("val", {"per_record": {"rec 7:a": {"V": {"n": 1, "se": 0.0}}}})
    assert set(odd) == {"val_record_se_V/rec_7_a", "val_record_n_V/rec_7_a"}


class Fixed(torch.nn.Module):
    """Predicts the class given by the first sample of each window."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(x[:, 0, 0].long(), len(AAMI)).float() + 0 * self.unused


def test_evaluate_reports_per_record_for_ecg_beats_only():
    x = np.zeros((len(Y_TRUE), 1, 8), np.float32)
    x[:, 0, 0] = Y_PRED
    groups = np.array(GROUPS)
    windows = Windows(x, np.array(Y_TRUE), AAMI, groups, groups.copy(), np.arange(len(Y_TRUE)), 360.0)
    beats, _ = evaluate(Fixed(), windows, ecg=True)
    assert beats["per_record"] == per_record_sensitivity(Y_TRUE, Y_PRED, GROUPS, AAMI)
    assert beats["per_record"]["232"]["S"] == {"n": 3, "se": 1.0}
    assert "per_record" not in evaluate(Fixed(), windows)[0]  # not ECG beats
    assert "per_record" not in evaluate(Fixed(), windows, ecg=True, per_record=False)[0]  # the loop's epochs
    no_groups = Windows(x, np.array(Y_TRUE), AAMI, None, groups, np.arange(len(Y_TRUE)), 360.0)
    assert "per_record" not in evaluate(Fixed(), no_groups, ecg=True)[0]
