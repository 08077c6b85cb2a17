"""Summary tables: per-record S and V sensitivity stays out of the per-class table and gets its own."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest

from sigattn.experiments import pipeline
from sigattn.experiments.cells import CELL_TAG, DIGEST_TAG
from sigattn.experiments.summary import per_record_csv, summarize, to_csv, to_markdown


def cell(model: str, seed: int) -> SimpleNamespace:
    """What `summarize` and the pipeline's `_summary_rows` read of a Cell."""
    key, config = f"{model}|seed={seed}", SimpleNamespace(train=SimpleNamespace(report_prefix="test"))
    return SimpleNamespace(key=key, digest=f"d-{key}", group=model, label=None, model=model, config=config)


def child_metrics(se_s_232: float, with_records: bool = True) -> dict[str, float]:
    """A finished child run's metrics as MLflow holds them."""
    m = {"test_accuracy": 0.9, "test_macro_f1": 0.6, "test_balanced_accuracy": 0.7, "test_se_S": 0.4,
         "test_f1_S": 0.3, "test_loss": 0.5, "params": 1000.0}  # fmt: skip
    if with_records:
        m |= {"test_record_se_S/232": se_s_232, "test_record_n_S/232": 1382.0, "test_record_se_V/232": 1.0,
              "test_record_n_V/232": 1.0, "test_record_se_V/100": 0.5, "test_record_n_V/100": 1.0}  # fmt: skip
    return m


def summary_rows(cells: list) -> list[dict]:
    """The pipeline's own summary rows for `cells`, from the child runs `sigattn.tracking.child_runs` lists."""
    plan = SimpleNamespace(cells=cells)
    return pipeline._summary_rows(plan, pipeline.latest_finished(plan, None, "parent"))


@pytest.fixture
def rows(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Rows through the pipeline's own `_summary_rows`, from fake finished child runs."""
    cells = [cell("cbam", 0), cell("cbam", 1), cell("minirocket", 0)]
    metrics = (child_metrics(0.2), child_metrics(0.4), child_metrics(0, with_records=False))
    children = [
        {"status": "FINISHED", "tags": {CELL_TAG: c.key, DIGEST_TAG: c.digest}, "metrics": m}
        for c, m in zip(cells, metrics, strict=True)
    ]
    monkeypatch.setattr("sigattn.tracking.child_runs", lambda settings, parent: children)
    return summary_rows(cells)


def test_record_values_reach_the_rows_but_not_the_per_class_table(rows):
    cbam, rocket = rows
    assert set(cbam["per_class"]) == {"f1_S", "se_S"} and rocket["per_record"] == {}
    s232 = cbam["per_record"]["S"]["232"]
    assert s232["n"] == 1382 and s232["runs"] == 2 and s232["se"] == pytest.approx((0.3, 0.1414214))
    assert set(cbam["per_record"]["V"]) == {"100", "232"}
    assert "record" not in to_csv(rows)


def test_markdown_has_a_per_record_section(rows):
    text = to_markdown("mitdb", rows)
    per_class, _, per_record = text.partition("## Per-record sensitivity")
    assert per_record and "record" not in per_class and "232" not in per_class
    s_table, _, v_table = per_record.partition("V beats:")
    assert "| record | S beats | cbam |" in s_table and "| 232 | 1382 | 0.300 ± 0.141 |" in s_table
    assert "minirocket" not in per_record  # its runs have no per-record values
    assert v_table.index("| 100 |") < v_table.index("| 232 |")
    assert "Per-record" not in to_markdown("cwru", summarize([cell("se", 0)], {"se|seed=0": {"accuracy": 1.0}}))


def test_per_record_csv(rows):
    lines = list(csv.DictReader(io.StringIO(per_record_csv(rows))))
    assert list(lines[0]) == ["cell", "record", "class", "n", "se_mean", "se_std"]
    assert [(r["cell"], r["record"], r["class"], r["n"]) for r in lines] == [
        ("cbam", "232", "S", "1382"), ("cbam", "100", "V", "1"), ("cbam", "232", "V", "1"),
    ]  # fmt: skip
    assert float(lines[0]["se_mean"]) == pytest.approx(0.3) and float(lines[1]["se_std"]) == 0.0


def test_summary_names_the_cells_whose_validation_saturated(monkeypatch: pytest.MonkeyPatch):
    cells = [cell("se", 0), cell("se", 1), cell("none", 0)]
    saturation = (1.0, 0.0, 0.0)
    children = [
        {"status": "FINISHED", "tags": {CELL_TAG: c.key, DIGEST_TAG: c.digest},
         "metrics": {**child_metrics(0.2, with_records=False), "val_saturated": v}}
        for c, v in zip(cells, saturation, strict=True)
    ]  # fmt: skip
    monkeypatch.setattr("sigattn.tracking.child_runs", lambda settings, parent: children)
    rows = summary_rows(cells)
    assert [r["val_saturated"] for r in rows] == [1, 0]
    assert "Validation saturated (" in to_markdown("cwru", rows) and ": se (1 of 2 runs)." in to_markdown("cwru", rows)
    assert [r["val_saturated"] for r in csv.DictReader(io.StringIO(to_csv(rows)))] == ["1", "0"]
    unsaturated = summary_rows(cells[2:])
    assert "saturated" not in to_markdown("cwru", unsaturated)


def test_the_saturation_note_names_folds_not_their_pooled_rows():
    folds = [SimpleNamespace(**{**vars(cell("se", 0)), "key": f"{f}|se", "group": f"{f}:se", "label": f})
             for f in ("A", "B")]  # fmt: skip
    finished = {f"{f}|se": {"accuracy": 1.0, "macro_f1": 1.0, "balanced_accuracy": 1.0, "val_saturated": 1.0}
                for f in ("A", "B")}  # fmt: skip
    rows = summarize(folds, finished)
    assert [r["cell"] for r in rows] == ["A:se", "B:se", "all 2 cells:se"] and rows[-1]["val_saturated"] == 2
    assert to_markdown("cwru", rows).endswith(": A:se (1 of 1 runs), B:se (1 of 1 runs).\n")


def test_adabn_scores_get_rows_of_their_own(monkeypatch: pytest.MonkeyPatch):
    """Runs scored after AdaBN add labelled rows from their test_adabn_* metrics; the plain rows stay as they were."""
    folds = [SimpleNamespace(**{**vars(cell(m, 0)), "key": f"{f}|{m}", "group": f"{f}:{m}", "label": f})
             for f in ("A", "B") for m in ("cbam", "minirocket")]  # fmt: skip
    adabn = {"test_adabn_accuracy": 0.99, "test_adabn_macro_f1": 0.98, "test_adabn_balanced_accuracy": 0.97,
             "test_adabn_f1_S": 0.95, "val_saturated": 1.0}  # fmt: skip
    children = [
        {"status": "FINISHED", "tags": {CELL_TAG: c.key, DIGEST_TAG: c.digest},
         "metrics": {**child_metrics(0.2, with_records=False), **(adabn if "cbam" in c.key else {})}}
        for c in folds
    ]  # fmt: skip
    monkeypatch.setattr("sigattn.tracking.child_runs", lambda settings, parent: children)
    rows = summary_rows(folds)
    names = [r["cell"] for r in rows]
    assert names[:6] == [
        "A:cbam",
        "A:minirocket",
        "B:cbam",
        "B:minirocket",
        "all 2 cells:cbam",
        "all 2 cells:minirocket",
    ]
    assert names[6:] == [f"{n} +AdaBN (target data)" for n in ("A:cbam", "B:cbam", "all 2 cells:cbam")]
    plain, adapted = rows[0], rows[6]
    assert (plain["accuracy"], plain["per_class"]["f1_S"][0]) == (0.9, 0.3)
    assert (adapted["accuracy"], adapted["macro_f1"], adapted["per_class"]["f1_S"][0]) == (0.99, 0.98, 0.95)
    text = to_markdown("cwru", rows)
    assert "| A:cbam +AdaBN (target data) | 1 | 0.9900 ± 0.0000 |" in text
    assert "Rows marked +AdaBN (target data)" in text and text.count("(1 of 1 runs)") == 2  # plain folds only
    assert "+AdaBN" not in to_markdown("cwru", rows[:6])
