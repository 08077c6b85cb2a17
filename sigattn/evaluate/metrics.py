"""Classification metrics from labels and predictions, as plain JSON-ready values.

Macro averages (macro_f1, balanced_accuracy) run over the classes that occur in `y_true` or
`y_pred`, as scikit-learn does by default: a class absent from both says nothing about the
model. Per-class values are reported for every class (0 where undefined, `zero_division=0`).

With `ecg=True` (AAMI beat classes N, S, V, F, Q) each class also gets its sensitivity
`se_<cls>` (= recall) and positive predictivity `ppv_<cls>` (+P, = precision). As is customary
in the inter-patient ECG literature, the unclassifiable class Q is reported but left out of the
macro averages (it has too few beats to be a meaningful class); accuracy still counts every beat.
`per_record_sensitivity` breaks the sensitivity of chosen classes (S and V) down by record.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from sigattn.errors import SigattnError

AAMI_CLASSES = frozenset({"N", "S", "V", "F", "Q"})
ECG_EXCLUDED_FROM_MACRO: tuple[str, ...] = ("Q",)
SCALARS: tuple[str, ...] = ("loss", "accuracy", "macro_f1", "balanced_accuracy")
RECORD_CLASSES: tuple[str, ...] = ("S", "V")  # the classes whose sensitivity is reported per record


def classification_metrics(
    y_true: np.ndarray | Sequence[int],
    y_pred: np.ndarray | Sequence[int],
    classes: Sequence[str],
    *,
    ecg: bool = False,
) -> dict[str, Any]:
    """accuracy, macro_f1, balanced_accuracy, per_class {cls: precision/recall/f1/support},
    confusion (rows = true class, columns = predicted, as lists), classes, n; plus se_/ppv_ per
    class when `ecg`."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    n_classes = len(classes)
    if y_true.shape != y_pred.shape:
        raise SigattnError(f"y_true and y_pred must have the same length; got {len(y_true)} and {len(y_pred)}")
    if len(y_true) == 0:
        raise SigattnError("metrics need at least one labelled sample; got none")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.min() < 0 or y.max() >= n_classes:
            raise SigattnError(f"{name} must hold class indices 0..{n_classes - 1}; got {y.min()}..{y.max()}")
    labels = list(range(n_classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    present = np.zeros(n_classes, dtype=bool)
    present[np.unique(np.concatenate([y_true, y_pred]))] = True
    if ecg:
        present &= ~np.isin(np.asarray(classes), ECG_EXCLUDED_FROM_MACRO)
    in_truth = present & (support > 0)
    out: dict[str, Any] = {
        "accuracy": float(np.mean(y_true == y_pred)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "balanced_accuracy": float(recall[in_truth].mean()) if in_truth.any() else 0.0,
        "n": len(y_true),
        "classes": list(classes),
        "per_class": {
            str(c): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
        "confusion": cm.astype(int).tolist(),
    }
    if ecg:
        for i, c in enumerate(classes):
            out[f"se_{c}"] = float(recall[i])
            out[f"ppv_{c}"] = float(precision[i])
    return out


def per_record_sensitivity(
    y_true: np.ndarray | Sequence[int],
    y_pred: np.ndarray | Sequence[int],
    groups: np.ndarray | Sequence[str],
    classes: Sequence[str],
    of: Sequence[str] = RECORD_CLASSES,
) -> dict[str, dict[str, dict[str, Any]]]:
    """{record: {cls: {"n": beats, "se": correct / beats}}} for each record (group) holding beats of a
    class in `of`; a record lists only the classes it holds, so every `se` is defined."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    groups = np.asarray(groups).ravel()
    if not len(y_true) == len(y_pred) == len(groups):
        raise SigattnError(
            f"y_true, y_pred and groups must have the same length; got {len(y_true)}, {len(y_pred)} and {len(groups)}"
        )
    unknown = [c for c in of if c not in classes]
    if unknown:
        raise SigattnError(f"per-record classes {unknown} are not among the classes {list(classes)}")
    index = {c: list(classes).index(c) for c in of}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for record in np.unique(groups):
        mine = groups == record
        per: dict[str, dict[str, Any]] = {}
        for c, i in index.items():
            beats = mine & (y_true == i)
            if beats.any():
                per[c] = {"n": int(beats.sum()), "se": float(np.mean(y_pred[beats] == i))}
        if per:
            out[str(record)] = per
    return out


def _metric_name(text: str) -> str:
    """Keep characters tracking stores accept in metric names (letters, digits, _ - . /)."""
    return re.sub(r"[^0-9A-Za-z_\-./]", "_", text)


def flat_metrics(prefix: str, metrics: dict[str, Any]) -> dict[str, float]:
    """Scalars for logging: `{prefix}_accuracy`, `{prefix}_macro_f1`, ..., `{prefix}_f1_<cls>`,
    any other top-level number (e.g. `se_V`) and, from `per_record`, `{prefix}_record_se_<cls>/<record>`
    with its beat count `{prefix}_record_n_<cls>/<record>`. Lists and the total `n` are left out."""
    head = f"{prefix}_" if prefix else ""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if key != "n" and isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
            flat[_metric_name(head + key)] = float(value)
    for cls, values in metrics.get("per_class", {}).items():
        flat[_metric_name(f"{head}f1_{cls}")] = float(values["f1"])
    for record, per in metrics.get("per_record", {}).items():
        for cls, values in per.items():
            flat[_metric_name(f"{head}record_se_{cls}/{record}")] = float(values["se"])
            flat[_metric_name(f"{head}record_n_{cls}/{record}")] = float(values["n"])
    return flat
