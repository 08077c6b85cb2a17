"""AdaBN: BatchNorm statistics re-estimated on unlabelled windows, nothing else changed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sigattn.errors import SigattnError
from sigattn.evaluate.adapt import adapt_batchnorm, batchnorm_layers
from sigattn.models import create_model


def _shifted(n: int, channels: int = 2) -> np.ndarray:
    """Windows whose channel c has mean 3 + c and standard deviation 2 + c."""
    rng = np.random.default_rng(0)
    scale = np.arange(channels)[None, :, None]
    return (3 + scale + (2 + scale) * rng.standard_normal((n, channels, 64))).astype(np.float32)


def test_running_statistics_become_those_of_the_windows():
    model = nn.Sequential(nn.Dropout(0.9), nn.BatchNorm1d(2))
    x = _shifted(70)  # 70 windows in batches of 16: five nearly equal batches, none of one window
    adapted = adapt_batchnorm(model, x, batch_size=16)
    bn = adapted[1]
    flat = x.transpose(1, 0, 2).reshape(2, -1)
    np.testing.assert_allclose(bn.running_mean.numpy(), flat.mean(1), rtol=1e-4)
    # the average of the batches' variances, within a per cent of the pooled one; a dropout left on
    # in training mode would inflate it about tenfold
    np.testing.assert_allclose(bn.running_var.numpy(), flat.var(1), rtol=0.01)
    assert not adapted.training and not bn.training and bn.momentum == 0.1


def test_the_model_itself_and_its_weights_are_untouched():
    torch.manual_seed(0)
    model = create_model("cnn", 1, 3, block="se", widths=[8, 8, 8, 8]).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapted = adapt_batchnorm(model, _shifted(20, channels=1).repeat(8, axis=2))
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    changed = {k for k, v in adapted.state_dict().items() if not torch.equal(v, before[k])}
    stats = {f"{name}.{s}" for name, m in adapted.named_modules() if m in batchnorm_layers(adapted)
             for s in ("running_mean", "running_var", "num_batches_tracked")}  # fmt: skip
    assert changed and changed <= stats


@pytest.mark.parametrize(
    ("model", "n", "message"),
    [
        (nn.Sequential(nn.Conv1d(2, 2, 3)), 8, "with BatchNorm layers; this model has none"),
        (nn.Sequential(nn.BatchNorm1d(2)), 1, "at least 2 unlabelled windows"),
    ],
)
def test_bad_input_is_one_clear_error(model: nn.Module, n: int, message: str):
    with pytest.raises(SigattnError, match=message):
        adapt_batchnorm(model, _shifted(n))


def test_three_windows_in_batches_of_one_still_adapt():
    adapted = adapt_batchnorm(nn.Sequential(nn.BatchNorm1d(2)), _shifted(3), batch_size=1)
    assert int(adapted[0].num_batches_tracked) == 1
