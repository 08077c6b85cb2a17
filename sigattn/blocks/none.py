"""The identity block, so every experiment has a no-attention baseline."""

from torch import nn

from sigattn.blocks.registry import register


@register("none")
class NoAttention(nn.Identity):
    """Returns its input unchanged; accepts and ignores any block options."""

    def __init__(self, channels: int, **_: object) -> None:
        super().__init__()
