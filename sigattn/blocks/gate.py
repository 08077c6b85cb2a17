"""The nonlinearity that turns scores into attention weights, and a way to see them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Literal

from torch import Tensor, nn

GateRole = Literal["channel", "temporal"]


class Gate(nn.Module):
    """Sigmoid or softmax-over-time weights; a module of its own so hooks can see them.

    `role` says what the weights select: "channel" gates have shape (N, C, 1), "temporal"
    maps (N, 1, L) or, for coordinate attention, (N, C, L). A sigmoid gate with `inplace=True`
    writes its weights over its scores, which its block must have made for it alone (autograd
    allows it: the sigmoid's backward needs only its output).
    """

    def __init__(
        self, kind: Literal["sigmoid", "softmax"] = "sigmoid", role: GateRole = "channel", *, inplace: bool = False
    ) -> None:
        super().__init__()
        self.kind = kind
        self.role = role
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "softmax":
            return x.softmax(dim=-1)
        return x.sigmoid_() if self.inplace else x.sigmoid()

    def extra_repr(self) -> str:
        return f"kind={self.kind}, role={self.role}" + (", inplace=True" if self.inplace else "")


def gate_map(gate: Gate, output: Tensor) -> Tensor:
    """A gate's output as a channel gate (N, C) or a temporal map (N, L).

    Per-channel temporal gates (N, C, L) are averaged over channels.
    """
    if gate.role == "channel":
        return output.flatten(1)
    return output.mean(dim=1)


@contextmanager
def capture_gates(model: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Collect every Gate's weights during forward passes inside the `with` block.

    Yields a dict filled on each forward: `{"stages.0.attn.channel_gate": (N, C), ...}`.
    Nothing is kept, and nothing costs anything, outside the block.
    """
    gates: dict[str, Tensor] = {}

    def keep(name: str, module: Gate, args: tuple, output: Tensor) -> None:
        gates[name] = gate_map(module, output.detach())

    handles = [
        module.register_forward_hook(partial(keep, name))
        for name, module in model.named_modules()
        if isinstance(module, Gate)
    ]
    try:
        yield gates
    finally:
        for handle in handles:
            handle.remove()
