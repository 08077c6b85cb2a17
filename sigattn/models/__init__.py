"""Backbones that take an attention block by name, and their registry."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from sigattn.errors import SigattnError
from sigattn.models.cnn import AttnCNN, wdcnn
from sigattn.models.resnet import AttnResNet1d

BACKBONES: dict[str, Callable[..., nn.Module]] = {"cnn": AttnCNN, "resnet": AttnResNet1d, "wdcnn": wdcnn}


def create_model(backbone: str, in_channels: int, num_classes: int, **options) -> nn.Module:
    """Build backbone `backbone` (see BACKBONES) with options such as block, widths, dropout."""
    try:
        build = BACKBONES[backbone.lower()]
    except KeyError:
        raise SigattnError(f"unknown backbone {backbone!r}; expected one of: {', '.join(sorted(BACKBONES))}") from None
    try:
        return build(in_channels, num_classes, **options)
    except TypeError as error:
        raise SigattnError(f"backbone {backbone!r}: {error}") from None


__all__ = ["BACKBONES", "AttnCNN", "AttnResNet1d", "create_model", "wdcnn"]
