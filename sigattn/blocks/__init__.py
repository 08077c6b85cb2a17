"""Attention blocks for (N, C, L) signals, one module each, and their registry.

`create_block(name, channels, **options)` builds any of `BLOCKS`; `capture_gates(model)`
collects the attention weights of every block inside a `with` statement.
"""

from sigattn.blocks import ca, cbam, eca, gc, none, se  # noqa: F401  (each registers itself)
from sigattn.blocks.gate import Gate, capture_gates
from sigattn.blocks.registry import BLOCKS, create_block

__all__ = ["BLOCKS", "Gate", "capture_gates", "create_block"]
