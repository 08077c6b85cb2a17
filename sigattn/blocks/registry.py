"""The one table of attention blocks, keyed by name."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from sigattn.errors import SigattnError

BLOCKS: dict[str, type[nn.Module]] = {}


def register(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator adding a block to BLOCKS under `name`; refuses duplicates."""

    def add(cls: type[nn.Module]) -> type[nn.Module]:
        if name in BLOCKS:
            raise ValueError(f"block {name!r} is registered twice")
        BLOCKS[name] = cls
        return cls

    return add


def create_block(name: str, channels: int, **options) -> nn.Module:
    """Build block `name` for `channels` input channels; unknown names list the choices."""
    try:
        cls = BLOCKS[name.lower()]
    except KeyError:
        raise SigattnError(f"unknown block {name!r}; expected one of: {', '.join(sorted(BLOCKS))}") from None
    if channels < 1:
        raise SigattnError(f"block {name!r} needs channels >= 1; got {channels}")
    try:
        return cls(channels, **options)
    except TypeError as error:
        raise SigattnError(f"block {name!r}: {error}") from None
