"""Seed ensembles of a pipeline: the mean class probabilities of each cell's seeds, scored as one model.

An ensemble of networks trained alike from different seeds needs no target data (TICNN's ensemble on
the CWRU load transfers); a pipeline with `ensemble: true` adds one row per cell, after its runs.
Nothing is trained: the members are the cell's finished runs, each with its best checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sigattn.config import RunConfig
from sigattn.experiments.cell_run import FITTED_BASELINES
from sigattn.experiments.cells import Cell
from sigattn.experiments.summary import METRICS, PER_CLASS, summarize

ENSEMBLE_LABEL = "ensemble of seeds"


def ensemble_rows(
    cells: Sequence[Cell], latest: Mapping[str, dict[str, Any]], tracking_uri: str | None
) -> list[dict[str, Any]]:
    """Summary rows "<cell> ensemble of seeds" (pooled over labelled cells too) for every cell with at
    least two finished seeds (`latest`: cell key -> its finished child run); fitted baselines have no
    checkpoint and are left out. Each row also carries `val_macro_f1`: the ensemble's and its members'
    mean on the validation split, so a reader can check that validation, too, favours the ensemble."""
    groups: dict[str, list[tuple[Cell, str]]] = {}
    for cell in cells:
        if cell.baseline not in FITTED_BASELINES and cell.key in latest:
            groups.setdefault(cell.group, []).append((cell, latest[cell.key]["run_id"]))
    firsts: list[Cell] = []
    scores: dict[str, dict[str, float]] = {}
    val: dict[str, tuple[float, float]] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        first = members[0][0]
        report, val[first.group] = _ensemble_scores(first.config, [run for _, run in members], tracking_uri)
        firsts.append(first)
        scores[first.key] = report
    rows = summarize(firsts, scores)
    by_model: dict[str, list[str]] = {}
    for cell in firsts:
        by_model.setdefault(cell.model, []).append(cell.group)
    for row in rows:
        model = row["cell"].partition(":")[2] if row.get("pooled") else None
        covered = by_model.get(model, []) if model is not None else [row["cell"]]
        row["val_macro_f1"] = tuple(float(np.mean([val[g][i] for g in covered])) for i in (0, 1))
    return [{**row, "cell": f"{row['cell']} {ENSEMBLE_LABEL}", "ensemble": True} for row in rows if row["runs"]]


def _ensemble_scores(
    cfg: RunConfig, run_ids: Sequence[str], tracking_uri: str | None
) -> tuple[dict[str, float], tuple[float, float]]:
    """(the ensemble's scores on `cfg`'s reported split, summary-style; (ensemble, mean member) val macro-F1)."""
    from sigattn.data.prepare import prepare
    from sigattn.evaluate.beats import with_model_side
    from sigattn.evaluate.metrics import flat_metrics
    from sigattn.evaluate.predict import ensemble_metrics, evaluate_ensemble, predict_proba, window_metrics
    from sigattn.models.checkpoint import model_from_checkpoint
    from sigattn.tracking import resolve_checkpoint

    prepared = prepare(cfg.data)
    models = [model_from_checkpoint(resolve_checkpoint(run_id, tracking_uri)) for run_id in run_ids]

    def members(split: str) -> list:
        return [(net, with_model_side(prepared.splits[split], meta)) for net, meta in models]

    report, _ = evaluate_ensemble(members(cfg.train.report_split), ecg=cfg.data.ecg)
    val = prepared.splits["val"]
    val_probs = [predict_proba(net, windows.x, side=windows.side) for net, windows in members("val")]
    ensemble_val, _ = ensemble_metrics(val, val_probs, ecg=cfg.data.ecg)
    member_val = [window_metrics(val, p.argmax(-1), ecg=cfg.data.ecg)["macro_f1"] for p in val_probs]
    flat = flat_metrics("", report)
    kept = {k: v for k, v in flat.items() if k in METRICS or k.startswith(PER_CLASS)}
    return kept, (float(ensemble_val["macro_f1"]), float(np.mean(member_val)))
