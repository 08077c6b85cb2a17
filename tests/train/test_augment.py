"""Training-batch augmentation: each transform's effect, seeding, and its place in the loop."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import signal

from sigattn.config import AugmentConfig, RunConfig, TrainConfig, load_config
from sigattn.data.prepare import Prepared, prepare
from sigattn.errors import SigattnError
from sigattn.experiments.run import train_and_report
from sigattn.models.checkpoint import load_checkpoint
from sigattn.train import augment as augment_module
from sigattn.train.augment import EQUALIZER_KNOTS, EQUALIZER_TAPS, Augmenter, equalizer_taps

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "data.synthetic={n_per_class: 3, seconds: 1.0}",
    "data.window={length: 512, stride: 256}",
    "model.widths=[8, 8, 16, 16]",
    "train.batch_size=32",
    "train.device=cpu",
]
AUG = ["train.augment={amplitude: [0.8, 1.2], noise: 0.1, baseline_wander: {amplitude: 0.2}, shift: 8}"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Prepared:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIGATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return prepare(load_config(None, TINY).data)


def config(tmp_path: Path, *overrides: str) -> RunConfig:
    return load_config(None, [*TINY, f"train.checkpoint_dir={tmp_path / 'ckpt'}", *overrides])


class StopAfter(threading.Event):
    """Reads as set from its `n`-th check on: the loop checks once per epoch and once per batch."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.checks = n, 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks >= self.n


def batch(n: int = 6, c: int = 2, length: int = 200) -> torch.Tensor:
    return torch.randn(n, c, length, generator=torch.Generator().manual_seed(1)) * 3 + 1


def run(cfg: AugmentConfig, x: torch.Tensor, seed: int = 0, fs: float = 100.0) -> torch.Tensor:
    return Augmenter(cfg, fs)((x,), torch.Generator().manual_seed(seed))[0]


def test_off_by_default_returns_the_inputs_and_draws_nothing():
    assert not TrainConfig().augment.active
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    inputs = (batch(), torch.ones(6, 4))
    assert Augmenter(AugmentConfig(), 100.0)(inputs, g) is inputs
    assert torch.equal(g.get_state(), state)


def test_side_inputs_pass_through_and_same_seed_same_batch():
    cfg = AugmentConfig(amplitude=(0.5, 2.0), noise=0.2, shift=5, equalizer_db=6.0)
    side = torch.ones(6, 4)
    out = Augmenter(cfg, 100.0)((batch(), side), torch.Generator().manual_seed(0))
    assert out[1] is side and out[0].shape == batch().shape
    assert torch.equal(run(cfg, batch()), run(cfg, batch()))
    assert not torch.equal(run(cfg, batch(), seed=0), run(cfg, batch(), seed=1))


def test_amplitude_scales_each_window_by_one_factor_in_range():
    x = batch()
    ratio = run(AugmentConfig(amplitude=(0.8, 1.2)), x) / x
    per_window = ratio[:, :1, :1]
    torch.testing.assert_close(ratio, per_window.expand_as(ratio))
    assert ((per_window >= 0.8) & (per_window <= 1.2)).all() and per_window.std() > 0


def test_noise_std_is_relative_to_the_window_std():
    x = batch(n=8, length=4000)
    added = run(AugmentConfig(noise=0.1), x) - x
    relative = added.std(dim=-1) / x.std(dim=-1)
    torch.testing.assert_close(relative, torch.full_like(relative, 0.1), atol=0.01, rtol=0)


def test_baseline_wander_is_a_slow_sinusoid_within_the_amplitude():
    x = batch(n=8, length=1000)
    wander = AugmentConfig(baseline_wander={"amplitude": 0.3, "max_hz": 0.5})
    added = run(wander, x, fs=100.0) - x  # 10 s at 100 Hz: at most 5 cycles
    assert (added.abs().amax(dim=-1) <= 0.3 * x.std(dim=-1) + 1e-5).all() and added.abs().max() > 0
    crossings = (added[..., 1:].sign() != added[..., :-1].sign()).sum(dim=-1)
    assert crossings.max() <= 11


@pytest.mark.parametrize("mode", ["circular", "edge"])
def test_shift_moves_each_window_by_at_most_k_samples(mode):
    x = batch(n=10)
    out = run(AugmentConfig(shift=4, shift_mode=mode), x)
    moved = 0
    for i in range(len(x)):
        matches = []
        for s in range(-4, 5):
            rolled = torch.roll(x[i], s, dims=-1)
            if mode == "edge" and s > 0:
                rolled[:, :s] = x[i, :, :1]
            elif mode == "edge" and s < 0:
                rolled[:, s:] = x[i, :, -1:]
            matches.append(torch.equal(out[i], rolled))
        assert any(matches), i
        moved += not matches[4]
    assert moved > 0


def test_stretch_changes_a_tones_frequency_by_at_most_the_amount():
    t = torch.arange(2000, dtype=torch.float32) / 1000.0
    x = torch.sin(2 * torch.pi * 50.0 * t).repeat(8, 1, 1)  # 50 Hz at 1 kHz, 2 s
    out = run(AugmentConfig(stretch=0.1), x, fs=1000.0)
    peaks = torch.fft.rfft(out[:, 0, 500:1500], n=20000).abs().argmax(dim=-1).float() / 20.0  # Hz
    assert ((peaks >= 45 - 0.2) & (peaks <= 55 + 0.2)).all() and peaks.std() > 0.5
    centre = x[:, :, 999:1001]  # the centre sample stays put
    torch.testing.assert_close(out[:, :, 999:1001].mean(-1), centre.mean(-1), atol=0.05, rtol=0)


def test_equalizer_filters_each_window_within_the_gain_range_at_every_octave():
    x = torch.zeros(16, 2, 1024)
    x[:, :, 512] = 1.0  # an impulse: each output is its window's filter
    out = run(AugmentConfig(equalizer_db=6.0), x, fs=1000.0)
    taps = out[:, :, 512 - EQUALIZER_TAPS // 2 : 512 + EQUALIZER_TAPS // 2 + 1].double().numpy()
    assert np.allclose(taps[:, 0], taps[:, 1], atol=1e-6)  # one filter per window
    assert np.allclose(taps, taps[..., ::-1], atol=1e-6)  # linear phase
    gains_db = np.stack([20 * np.log10(np.abs(signal.freqz(t, worN=EQUALIZER_KNOTS * np.pi)[1])) for t in taps[:, 0]])
    assert (np.abs(gains_db) <= 6.0 + 1.0).all()
    assert (gains_db[:, 3:].std(axis=0) > 2.0).all()  # each octave from Nyquist/16 up varies from window to window


def test_equalizer_taps_are_scipy_firwin2_designs():
    gains_db = np.random.default_rng(0).uniform(-12, 12, (3, len(EQUALIZER_KNOTS)))
    freq = np.concatenate([[0.0], EQUALIZER_KNOTS])
    for taps, row in zip(equalizer_taps(gains_db), gains_db, strict=True):
        expected = signal.firwin2(EQUALIZER_TAPS, freq, 10 ** (np.concatenate([row[:1], row]) / 20))
        np.testing.assert_allclose(taps, expected, atol=1e-12)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(SigattnError, match=r"train\.augment\.amplitude must be null or \[low, high\]"):
        TrainConfig.from_dict({"augment": {"amplitude": [1.2, 0.8]}})
    with pytest.raises(SigattnError, match=r"train\.augment\.shift_mode must be one of: edge, circular"):
        TrainConfig.from_dict({"augment": {"shift_mode": "wrap"}})
    with pytest.raises(SigattnError, match=r"train\.augment\.stretch must be a number in \[0, 0\.5\)"):
        TrainConfig.from_dict({"augment": {"stretch": 0.5}})
    with pytest.raises(SigattnError, match=r"train\.augment\.equalizer_db must be a number in \[0, 40\)"):
        TrainConfig.from_dict({"augment": {"equalizer_db": -3}})


def test_loop_augments_every_training_batch_and_nothing_else(tmp_path, prepared, monkeypatch):
    sizes: list[int] = []
    apply = augment_module.Augmenter.apply

    def counting(self, x, g):
        sizes.append(len(x))
        return apply(self, x, g)

    monkeypatch.setattr(augment_module.Augmenter, "apply", counting)
    cfg = config(tmp_path, "train.epochs=2", *AUG)
    result = train_and_report(cfg, prepared, progress=False)
    steps = len(prepared.splits["train"]) // cfg.train.batch_size
    assert len(sizes) in (2 * steps, 2 * (steps + 1)) and max(sizes) <= cfg.train.batch_size
    plain = train_and_report(config(tmp_path, "train.epochs=2"), prepared, progress=False)
    assert result.history != plain.history


def test_augmented_runs_repeat_and_resume_like_a_straight_run(tmp_path, prepared):
    cfg = config(tmp_path, "train.epochs=3", *AUG)
    straight = train_and_report(cfg, prepared, progress=False)
    assert train_and_report(cfg, prepared, progress=False).history == straight.history
    steps = len(prepared.splits["train"]) // cfg.train.batch_size
    cut = config(tmp_path / "cut", "train.epochs=3", *AUG)
    with pytest.raises(KeyboardInterrupt):  # stops after the first batch of epoch 1
        train_and_report(cut, prepared, progress=False, stop=StopAfter(steps + 3))
    (last_path,) = (tmp_path / "cut" / "ckpt").glob("*/last.pt")
    last = load_checkpoint(last_path)
    assert last["epoch"] == 0
    resumed = train_and_report(cut, prepared, resume=last, progress=False)
    assert resumed.history == straight.history
