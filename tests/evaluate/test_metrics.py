"""Metrics on hand-checked confusions, the AAMI (ECG) conventions, flattening, and the figures."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from sigattn.errors import SigattnError
from sigattn.evaluate.figures import confusion_figure, curves_figure
from sigattn.evaluate.metrics import classification_metrics, flat_metrics

# true 0 0 0 1 1 2 / pred 0 0 1 1 2 2:  confusion [[2,1,0],[0,1,1],[0,0,1]]
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_known_confusion_gives_exact_values():
    m = classification_metrics(Y_TRUE, Y_PRED, ("A", "B", "C"))
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    pc = m["per_class"]
    assert pc["A"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert pc["B"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert pc["C"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert m["classes"] == ["A", "B", "C"] and m["n"] == 6
    assert not any(k.startswith(("se_", "ppv_")) for k in m)


def test_absent_classes_are_reported_but_not_averaged():
    m = classification_metrics(Y_TRUE, Y_PRED, ("A", "B", "C", "D"))
    assert m["per_class"]["D"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert len(m["confusion"]) == 4 and m["confusion"][3] == [0, 0, 0, 0]
    # predicted but never true: an error that counts in macro F1, not in balanced accuracy
    m = classification_metrics([0, 0, 1, 1], [0, 2, 1, 1], ("A", "B", "C"))
    assert m["per_class"]["C"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)


def test_ecg_sensitivity_positive_predictivity_and_q_excluded_from_macro():
    classes = ("N", "S", "V", "F", "Q")
    y_true = np.array([0] * 6 + [1] * 2 + [2] * 4 + [3] * 1 + [4] * 2)
    y_pred = np.array([0, 0, 0, 0, 0, 1] + [1, 0] + [2, 2, 2, 4] + [2] + [4, 0])
    m = classification_metrics(y_true, y_pred, classes, ecg=True)
    assert m["se_V"] == pytest.approx(3 / 4) and m["ppv_V"] == pytest.approx(3 / 4)  # the F beat was called V
    assert m["se_S"] == pytest.approx(1 / 2) and m["ppv_S"] == pytest.approx(1 / 2)
    assert m["se_N"] == pytest.approx(5 / 6) and m["ppv_N"] == pytest.approx(5 / 7)
    assert m["se_F"] == 0.0 and m["ppv_F"] == 0.0
    assert m["se_Q"] == pytest.approx(1 / 2) and m["ppv_Q"] == pytest.approx(1 / 2)  # reported
    f1 = {c: m["per_class"][c]["f1"] for c in classes}
    assert m["macro_f1"] == pytest.approx(np.mean([f1[c] for c in "NSVF"]))
    assert m["balanced_accuracy"] == pytest.approx(np.mean([5 / 6, 1 / 2, 3 / 4, 0.0]))
    assert m["accuracy"] == pytest.approx(10 / 15)  # every beat, Q included
    plain = classification_metrics(y_true, y_pred, classes)
    assert plain["macro_f1"] == pytest.approx(np.mean(list(f1.values())))


def test_flat_metrics_names():
    m = {"loss": 0.5, **classification_metrics(Y_TRUE, Y_PRED, ("Normal", "IR", "OR 007"))}
    flat = flat_metrics("val", m)
    assert flat["val_accuracy"] == pytest.approx(4 / 6) and flat["val_loss"] == 0.5
    assert set(flat) == {
        "val_loss", "val_accuracy", "val_macro_f1", "val_balanced_accuracy",
        "val_f1_Normal", "val_f1_IR", "val_f1_OR_007",
    }  # fmt: skip
    assert all(isinstance(v, float) for v in flat.values())
    ecg = flat_metrics("test", classification_metrics([0, 1], [0, 1], ("N", "V"), ecg=True))
    assert ecg["test_se_V"] == 1.0 and ecg["test_ppv_N"] == 1.0
    assert "accuracy" in flat_metrics("", m)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0, 1], [0], "same length"),
        ([], [], "at least one"),
        ([0, 3], [0, 1], r"y_true must hold class indices 0..2"),
        ([0, 1], [0, -1], r"y_pred must hold class indices 0..2"),
    ],
)
def test_bad_inputs(y_true, y_pred, message):
    with pytest.raises(SigattnError, match=message):
        classification_metrics(y_true, y_pred, ("A", "B", "C"))


def test_confusion_figure():
    m = classification_metrics(Y_TRUE, Y_PRED, ("A", "B", "C"))
    fig = confusion_figure(m["confusion"], m["classes"], "run-x: test")
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # the matrix and its colour bar
    ax = fig.axes[0]
    assert ax.get_title() == "run-x: test" and ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    texts = [t.get_text() for t in ax.texts]
    assert "2\n67%" in texts and len(texts) == 9
    fig.canvas.draw()  # renders without pyplot
    with pytest.raises(SigattnError, match="3x3"):
        confusion_figure([[1, 2]], ("A", "B", "C"), "t")


def test_curves_figure():
    history = [
        {"epoch": e, "train_loss": 1 / (e + 1), "val_loss": 1.2 / (e + 1), "val_macro_f1": e / 3} for e in range(3)
    ]
    fig = curves_figure(history, "synthetic-4c/se/seed0", monitor="val_macro_f1")
    assert isinstance(fig, Figure) and fig.get_suptitle() == "synthetic-4c/se/seed0"
    loss_ax, metric_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train", "val"]
    assert "val_macro_f1" in [line.get_label() for line in metric_ax.lines]
    fig.canvas.draw()
    with pytest.raises(SigattnError, match="at least one epoch"):
        curves_figure([], "t")
