"""Pipeline summary tables: mean ± std over seeds per cell, pooled over labelled cells, as
Markdown and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sigattn.experiments.cells import Cell

METRICS = ("accuracy", "macro_f1", "balanced_accuracy")
PER_CLASS = ("f1_", "se_", "ppv_")  # test_f1_<class>, and for ECG sensitivity and positive predictivity


def _stats(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _row(name: str, runs: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"cell": name, "runs": len(runs), "per_class": {}}
    for key in sorted({k for r in runs for k in r if k.startswith(PER_CLASS)}, key=_per_class_order):
        row["per_class"][key] = _stats([r[key] for r in runs if key in r])
    for m in (*METRICS, "params", "latency_ms_cpu"):
        values = [r[m] for r in runs if m in r]
        mean, std = _stats(values) if values else (float("nan"), float("nan"))
        row[m] = mean
        if m in METRICS:
            row[f"{m}_std"] = std
    row["params"] = None if np.isnan(row["params"]) else int(row["params"])
    return row


def summarize(cells: Sequence[Cell], finished: Mapping[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per cell group (the cell without train.seed) with mean and std over its finished seeds;
    with several labelled cells (folds, transfers), also one row per model over all of them."""
    groups: dict[str, list[dict[str, float]]] = {}
    pooled: dict[str, list[dict[str, float]]] = {}
    labels = {cell.label for cell in cells}
    for cell in cells:
        runs = groups.setdefault(cell.group, [])
        over = pooled.setdefault(f"all {len(labels)} cells:{cell.model}", [])
        if cell.key in finished:
            runs.append(finished[cell.key])
            over.append(finished[cell.key])
    rows = [_row(group, runs) for group, runs in groups.items()]
    if len(labels) > 1 and None not in labels:
        rows += [_row(name, runs) for name, runs in pooled.items()]
    return rows


def _per_class_order(key: str) -> tuple[str, int]:
    kind, _, cls = key.partition("_")
    return cls, ("f1", "se", "ppv").index(kind)


def _per_class_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({k for r in rows for k in r["per_class"]}, key=_per_class_order)


def to_markdown(name: str, rows: Sequence[dict[str, Any]]) -> str:
    head = "| cell | runs | accuracy | macro-F1 | balanced accuracy | params | CPU latency (ms/window) |"
    lines = [f"# {name}", "", "Test metrics: mean ± std over seeds.", "", head, "|" + "---|" * 7]
    for r in rows:
        cols = [f"{r[m]:.4f} ± {r[f'{m}_std']:.4f}" if r["runs"] else "–" for m in METRICS]
        params = "–" if r["params"] is None else f"{r['params']:,}"
        latency = f"{r['latency_ms_cpu']:.3f}" if r["runs"] else "–"
        lines.append(f"| {r['cell']} | {r['runs']} | {' | '.join(cols)} | {params} | {latency} |")
    keys = _per_class_keys(rows)
    if keys:
        lines += ["", "Per class (f1 = F1, se = sensitivity, ppv = positive predictivity), mean ± std:", ""]
        lines += ["| cell | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 1)]
        for r in rows:
            cols = [
                f"{r['per_class'][k][0]:.3f} ± {r['per_class'][k][1]:.3f}" if k in r["per_class"] else "–" for k in keys
            ]
            lines.append(f"| {r['cell']} | {' | '.join(cols)} |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    keys = _per_class_keys(rows)
    columns = ["cell", "runs", *(c for m in METRICS for c in (m, f"{m}_std")), "params", "latency_ms_cpu"]
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=[*columns, *(c for k in keys for c in (k, f"{k}_std"))], lineterminator="\n"
    )
    writer.writeheader()
    for r in rows:
        per_class = {c: v for k, (mean, std) in r["per_class"].items() for c, v in ((k, mean), (f"{k}_std", std))}
        writer.writerow({**{c: r[c] for c in columns}, **per_class})
    return buffer.getvalue()
