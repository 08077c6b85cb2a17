"""One pipeline cell as a child MLflow run, and its CPU cost measured afterwards, one model at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigattn.config import RunConfig, load_config, run_name
from sigattn.errors import SigattnError
from sigattn.experiments.cells import BASELINE_TAG, CELL_TAG, DIGEST_TAG, KIND_TAG
from sigattn.experiments.summary import METRICS

if TYPE_CHECKING:
    from sigattn.data.prepare import Prepared
    from sigattn.train.tracker import Tracker

FITTED_BASELINES = ("minirocket", "dechazal")  # fitted here in one go, not trained by the loop


def _fit_baseline(name: str, cfg: RunConfig, prepared: Prepared, tracker: Tracker) -> dict[str, Any]:
    """Test metrics, `params` and `latency_ms_cpu` of the baseline `name` fitted on `prepared`."""
    if name == "minirocket":
        from sigattn.experiments.baselines import fit_minirocket

        return fit_minirocket(cfg, prepared, tracker)
    from sigattn.experiments.linear_ecg import fit_linear_ecg

    return fit_linear_ecg(cfg, prepared, tracker)


def run_cell(
    config: dict[str, Any],
    key: str,
    digest: str,
    label: str | None,
    parent_run_id: str,
    baseline: str | None,
    *,
    threads: int = 0,
    progress: bool = False,
    on_start: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train one cell as a child run of `parent_run_id` (in the main process or a worker).

    Returns a CellOutcome's fields: status "finished" (with the test metrics, and for a CNN its best
    checkpoint and last step, whose CPU cost `measure_costs` adds later), "failed" (`error`) or
    "killed" (Ctrl-C or SIGTERM; the run ends KILLED). `on_start` hears the run id once the run exists.
    """
    import torch

    from sigattn import tracking
    from sigattn.data.prepare import prepare
    from sigattn.experiments.run import train_and_report

    if threads:
        torch.set_num_threads(threads)
    cfg = load_config(config)
    tracker = None
    try:
        prepared = prepare(cfg.data)
        model = baseline if baseline in FITTED_BASELINES else None
        name = run_name(cfg, len(prepared.classes), model=model) + (f"/{label}" if label else "")
        tags = {CELL_TAG: key, DIGEST_TAG: digest, KIND_TAG: "pipeline-cell"}
        tags |= {BASELINE_TAG: baseline} if baseline else {}
        with tracking.tracked_run(cfg.tracking, run_name=name, parent_run_id=parent_run_id, tags=tags) as tracker:
            if on_start is not None:
                on_start(tracker.run_id)
            extra: dict[str, Any] = {}
            if baseline in FITTED_BASELINES:
                tracker.log_config(cfg.to_dict())
                tracker.set_tags({"dataset": cfg.data.dataset, "block": "-", "backbone": baseline})
                test = _fit_baseline(baseline, cfg, prepared, tracker)
                costs = {k: float(test[k]) for k in ("params", "latency_ms_cpu")}
            else:
                result = train_and_report(cfg, prepared, tracker, progress=progress)
                test, costs = result.test_metrics, {}
                extra = {"checkpoint": str(result.best_checkpoint), "step": len(result.history)}
    except KeyboardInterrupt:
        return {"status": "killed", "run_id": getattr(tracker, "run_id", None), "error": "interrupted"}
    except Exception as error:  # reported per cell; the pipeline goes on with the others
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        message = text if isinstance(error, SigattnError) else f"{type(error).__name__}: {text}"
        return {"status": "failed", "run_id": getattr(tracker, "run_id", None), "error": message}
    metrics = {m: float(test[m]) for m in METRICS} | costs
    return {"status": "finished", "run_id": tracker.run_id, "run_name": tracker.run_name, "metrics": metrics, **extra}


def measure_costs(checkpoint: str | Path) -> dict[str, float]:
    """Parameters and median CPU latency (ms) of one window through the model of `checkpoint`.

    Called in the main process after every cell has finished, so no other training shares the CPU;
    torch.utils.benchmark's Timer runs it on one thread."""
    import torch

    from sigattn.models.checkpoint import model_from_checkpoint
    from sigattn.models.costs import count_parameters, median_seconds

    net, meta = model_from_checkpoint(checkpoint)
    inputs = [torch.zeros((1, meta.in_channels, meta.window_length))]
    inputs += [torch.zeros((1, len(meta.side_features)))] if meta.side_features else []
    with torch.inference_mode():
        seconds = median_seconds(lambda: net(*inputs), min_run_time=0.2)
    return {"params": float(count_parameters(net)), "latency_ms_cpu": seconds * 1e3}
