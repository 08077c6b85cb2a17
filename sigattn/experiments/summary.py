"""Pipeline summary tables: mean ± std over seeds per cell, pooled over labelled cells, as
Markdown and CSV; for ECG beats also the S and V sensitivity of each test record."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sigattn.evaluate.adapt import ADAPTED_LABEL

if TYPE_CHECKING:
    from sigattn.experiments.cells import Cell

METRICS = ("accuracy", "macro_f1", "balanced_accuracy")
CLASS_PREFIXES = ("f1_", "se_", "ppv_")  # test_f1_<class>, and for ECG sensitivity and positive predictivity
RECORD_PREFIXES = ("record_se_", "record_n_")  # test_record_se_<class>/<record> and its beat count
PER_CLASS = (*CLASS_PREFIXES, *RECORD_PREFIXES)  # every test_<prefix>... metric the summary reads
RECORD_TABLE_CLASSES = ("S", "V")


def _stats(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _row(name: str, runs: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"cell": name, "runs": len(runs), "per_class": {}}
    for key in sorted({k for r in runs for k in r if k.startswith(CLASS_PREFIXES)}, key=_per_class_order):
        row["per_class"][key] = _stats([r[key] for r in runs if key in r])
    row["per_record"] = per_record_stats(runs)
    for m in (*METRICS, "params", "latency_ms_cpu"):
        values = [r[m] for r in runs if m in r]
        mean, std = _stats(values) if values else (float("nan"), float("nan"))
        row[m] = mean
        if m in METRICS:
            row[f"{m}_std"] = std
    row["params"] = None if np.isnan(row["params"]) else int(row["params"])
    row["val_saturated"] = sum(r.get("val_saturated", 0.0) > 0 for r in runs)
    return row


def summarize(
    cells: Sequence[Cell],
    finished: Mapping[str, dict[str, float]],
    adapted: Mapping[str, dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """One row per cell group (the cell without train.seed) with mean and std over its finished seeds;
    with several labelled cells (folds, transfers), also one row per model over all of them. Runs
    that were also scored after AdaBN (`adapted`, same keys) add the same rows again, named
    "<cell> +AdaBN (target data)" and marked `adapted`."""
    rows = _rows(cells, finished)
    if adapted:
        rows += [{**row, "cell": f"{row['cell']} {ADAPTED_LABEL}", "adapted": True} for row in _rows(cells, adapted)
                 if row["runs"]]  # fmt: skip
    return rows


def _rows(cells: Sequence[Cell], finished: Mapping[str, dict[str, float]]) -> list[dict[str, Any]]:
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
        rows += [{**_row(name, runs), "pooled": True} for name, runs in pooled.items()]
    return rows


def per_record_stats(runs: Sequence[Mapping[str, float]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{class: {record: {"n": beats, "se": (mean, std), "runs": seeds}}} from the runs'
    `record_se_<class>/<record>` and `record_n_<class>/<record>` values."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    keys = {k.removeprefix("record_se_") for run in runs for k in run if k.startswith("record_se_")}
    for key in sorted(keys, key=lambda k: (k.partition("/")[0], _record_order(k.partition("/")[2]))):
        cls, _, record = key.partition("/")
        values = [run[f"record_se_{key}"] for run in runs if f"record_se_{key}" in run]
        counts = [run[f"record_n_{key}"] for run in runs if f"record_n_{key}" in run]
        entry = {"n": int(max(counts)) if counts else None, "se": _stats(values), "runs": len(values)}
        out.setdefault(cls, {})[record] = entry
    return out


def _record_order(record: str) -> tuple[int, int, str]:
    return (0, int(record), "") if record.isdigit() else (1, 0, record)


def _record_classes(rows: Sequence[dict[str, Any]]) -> list[str]:
    found = {c for r in rows for c in r.get("per_record", {})}
    return [c for c in RECORD_TABLE_CLASSES if c in found] + sorted(found - set(RECORD_TABLE_CLASSES))


def _record_tables(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: per class, one row per record (its beats, then mean ± std Se per cell)."""
    lines = ["", "## Per-record sensitivity", "",
             "Se = share of a record's beats of the class classified correctly, mean ± std over seeds; "
             "only records holding beats of the class."]  # fmt: skip
    for cls in _record_classes(rows):
        cells = [r for r in rows if r.get("per_record", {}).get(cls)]
        records = sorted({rec for r in cells for rec in r["per_record"][cls]}, key=_record_order)
        lines += ["", f"{cls} beats:", "", f"| record | {cls} beats | " + " | ".join(r["cell"] for r in cells) + " |"]
        lines.append("|" + "---|" * (len(cells) + 2))
        for rec in records:
            entries = [r["per_record"][cls].get(rec) for r in cells]
            counts = sorted({e["n"] for e in entries if e and e["n"] is not None})
            cols = [f"{e['se'][0]:.3f} ± {e['se'][1]:.3f}" if e else "–" for e in entries]
            lines.append(f"| {rec} | {'/'.join(map(str, counts)) or '–'} | {' | '.join(cols)} |")
    return lines


def per_record_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV with columns cell, record, class, n, se_mean, se_std (one line per cell, class and record)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["cell", "record", "class", "n", "se_mean", "se_std"])
    for r in rows:
        for cls in _record_classes([r]):
            for rec in sorted(r["per_record"][cls], key=_record_order):
                e = r["per_record"][cls][rec]
                writer.writerow([r["cell"], rec, cls, "" if e["n"] is None else e["n"], *e["se"]])
    return buffer.getvalue()


def _per_class_order(key: str) -> tuple[str, int]:
    kind, _, cls = key.partition("_")
    return cls, ("f1", "se", "ppv").index(kind)


def _per_class_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({k for r in rows for k in r["per_class"]}, key=_per_class_order)


def to_markdown(name: str, rows: Sequence[dict[str, Any]], split: str = "test") -> str:
    """The summary as Markdown; `split` is the split the cells were scored on (`train.report_split`)."""
    head = "| cell | runs | accuracy | macro-F1 | balanced accuracy | params | CPU latency (ms/window) |"
    scored = "Test metrics" if split == "test" else f"Metrics on the {split} split (held-out records, best epoch)"
    lines = [f"# {name}", "", f"{scored}: mean ± std over seeds.", "", head, "|" + "---|" * 7]
    for r in rows:
        cols = [f"{r[m]:.4f} ± {r[f'{m}_std']:.4f}" if r["runs"] else "–" for m in METRICS]
        params = "–" if r["params"] is None else f"{r['params']:,}"
        latency = f"{r['latency_ms_cpu']:.3f}" if r["runs"] and not np.isnan(r["latency_ms_cpu"]) else "–"
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
    if any(r.get("per_record") for r in rows):
        lines += _record_tables(rows)
    if any(r.get("adapted") for r in rows):
        lines += ["", f"Rows marked {ADAPTED_LABEL}: the same models scored again after AdaBN, their BatchNorm "
                      "statistics re-estimated on the unlabelled windows of the scored split. They use target "
                      "data, so they are domain adaptation, not results without it."]  # fmt: skip
    lines += _ensemble_lines(rows)
    lines += _saturation_lines(rows)
    return "\n".join(lines) + "\n"


def _ensemble_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """For seed-ensemble rows: what they are, and their validation macro-F1 beside their members' mean."""
    ensembles = [r for r in rows if r.get("ensemble")]
    if not ensembles:
        return []
    lines = ["", "Rows named \"ensemble of seeds\": each cell's seeds as one model (their class probabilities "
                 "averaged); runs counts the cells. On the validation split (macro-F1):", "",
             "| cell | ensemble | members' mean |", "|---|---|---|"]  # fmt: skip
    return lines + [f"| {r['cell']} | {r['val_macro_f1'][0]:.4f} | {r['val_macro_f1'][1]:.4f} |" for r in ensembles]


def _saturation_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """A note naming the cells whose val split was saturated (a perfect score: it chose no epoch)."""
    hit = [f"{r['cell']} ({r['val_saturated']} of {r['runs']} runs)" for r in rows
           if r.get("val_saturated") and not r.get("pooled") and not r.get("adapted")]  # fmt: skip
    if not hit:
        return []
    return ["", "Validation saturated (the monitored score was 1 in some epoch, so the val split could not "
                "choose the epoch; the first perfect one was kept): " + ", ".join(hit) + "."]  # fmt: skip


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    keys = _per_class_keys(rows)
    columns = ["cell", "runs", *(c for m in METRICS for c in (m, f"{m}_std")), "params", "latency_ms_cpu",
               "val_saturated"]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=[*columns, *(c for k in keys for c in (k, f"{k}_std"))], lineterminator="\n"
    )
    writer.writeheader()
    for r in rows:
        per_class = {c: v for k, (mean, std) in r["per_class"].items() for c, v in ((k, mean), (f"{k}_std", std))}
        writer.writerow({**{c: r[c] for c in columns}, **per_class})
    return buffer.getvalue()
