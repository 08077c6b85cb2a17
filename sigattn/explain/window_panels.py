"""Per-window figures that put attention beside Integrated Gradients, each with its deletion score.

Every window gets one figure: the attention views (most faithful first), an IG strip of the same
window on the same axis, and the channel gates of channel-only stages (SE, ECA) as bars. Each
strip's title says how much masking its top 10 % lowers this window's p(predicted class); the
title's second line repeats those drops, and a third line the run's deletion drops when given, a
fourth what they say (`faithfulness_verdict`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from sigattn.explain.attribution import integrated_gradients
from sigattn.explain.axis import InputAxis
from sigattn.explain.capture import StageAttention
from sigattn.explain.overlay import overlay_figure
from sigattn.explain.views import attention_views, best_first, view_label, window_drops

IG_STEPS = 16  # few windows per figure set; 16 steps keep IG cheap


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g} %"


def _f(value: float) -> str:
    """Two decimals, without a "-0.00"."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def run_view_drops(scores: Mapping[str, float]) -> dict[str, float]:
    """{view: accuracy drop} from interpretability metrics (`deletion_drop_attention_<view>`)."""
    prefix = "deletion_drop_attention_"
    return {k[len(prefix) :]: v for k, v in scores.items() if k.startswith(prefix)}


def run_drop_line(scores: Mapping[str, float], fraction: float = 0.1) -> str:
    """e.g. "deletion drop on the scored split (accuracy, top 10 % masked): attention stage3 0.02,
    IG 0.31, random 0.01" from interpretability metrics."""
    views = run_view_drops(scores)
    parts = [f"attention {v} {_f(d)}" for v, d in sorted(views.items(), key=lambda kv: -kv[1])]
    for name, key in (("IG", "deletion_drop_ig"), ("random", "deletion_drop_random")):
        parts += [f"{name} {_f(scores[key])}"] if key in scores else []
    said = ", ".join(parts or ["not measured"])
    return f"deletion drop on the scored split (accuracy, top {_pct(fraction)} masked): {said}"


def faithfulness_verdict(scores: Mapping[str, float]) -> str | None:
    """The target in plain words, from the run's deletion drops: is the best attention view's drop
    at least half of IG's, and above random masking? None without attention views or an IG drop."""
    views, ig, rand = run_view_drops(scores), scores.get("deletion_drop_ig"), scores.get("deletion_drop_random")
    if not views or ig is None:
        return None
    best = max(views.values())
    if rand is not None and best <= rand:
        return "attention masks no better than random here: do not read it as what the model relies on"
    if best < 0.5 * ig:
        return "attention's best drop is under half of IG's: trust the IG strip over the attention strips"
    return "attention's best drop is at least half of IG's"


def window_figures(
    model: nn.Module,
    x: np.ndarray,
    stages: list[StageAttention],
    target: np.ndarray,
    headings: list[str],
    classes: list[str],
    *,
    axis: InputAxis,
    side: np.ndarray | None = None,
    run_scores: Mapping[str, float] | None = None,
    fraction: float = 0.1,
    ig_steps: int = IG_STEPS,
) -> list[tuple[Figure, dict[str, float]]]:
    """One figure per window of `x` (M, C, L) and its per-map drops in p(`target`) (M,).

    `stages` were collected on these M windows. Views are ordered by the run's deletion drops
    (`run_scores`, interpretability metrics) when given, else by the mean drop over these windows.
    """
    views = attention_views(stages, x.shape[-1])
    ig = integrated_gradients(model, x, target, side=side, steps=ig_steps)
    drops = window_drops(model, x, {**views, "ig": ig}, target, side=side, fraction=fraction)
    ranking = run_view_drops(run_scores) if run_scores else {v: float(drops[v].mean()) for v in views}
    order = best_first(list(views), ranking)
    kinds = {v: "product" if v == "product" else next(sa.temporal_kind or "sigmoid" for sa in stages
                                                       if f"stage{sa.stage}" == v) for v in order}  # fmt: skip
    channel_only = [sa for sa in stages if sa.temporal is None and sa.channel is not None]
    out = []
    for row, heading in enumerate(headings):
        p = f"p({classes[target[row]]})"
        said = {n: f"masking its top {_pct(fraction)} lowers {p} by {_f(d[row])}" for n, d in drops.items()}
        strips = [(f"{view_label(v, stages)}: {said[v]}", views[v][row], kinds[v]) for v in order]
        strips.append((f"Integrated Gradients |attribution| for {p}, {ig_steps} steps: {said['ig']}", ig[row], "ig"))
        bars = [(f"stage {sa.stage} ({sa.name}), channel gates", sa.channel[row]) for sa in channel_only]
        mine = {name: float(d[row]) for name, d in drops.items()}
        line = ", ".join([*(f"attention {v} {_f(mine[v])}" for v in order), f"IG {_f(mine['ig'])}",
                          f"random {_f(mine['random'])}"])  # fmt: skip
        note = f"drop in {p} with the top {_pct(fraction)} masked: {line}"
        if run_scores is not None:
            verdict = faithfulness_verdict(run_scores)
            note += "\n" + run_drop_line(run_scores, fraction) + (f"\n{verdict}" if verdict else "")
        out.append((overlay_figure(x[row], axis, strips, heading, note=note, gates=bars), mine))
    return out
