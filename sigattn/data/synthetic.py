"""Deterministic synthetic bearing vibration with CWRU-like classes Normal, IR, B, OR.

Each recording is a shaft tone (fr = rpm/60 and harmonics), sporadic aperiodic knocks (all
classes alike), Gaussian noise and, for faults, decaying resonance bursts at a structural
resonance that repeat at the fault frequency with a little arrival jitter:

- IR: every 1/BPFI, amplitude modulated at fr (the defect turns through the load zone);
- B:  every 1/(2 BSF) (the ball defect strikes both races), modulated at the cage rate FTF;
- OR: every 1/BPFO, unmodulated (the defect sits still in the load zone).

Each recording's RMS is then set to a value drawn from one distribution for every class, so
amplitude statistics alone do not tell the classes apart; the envelope spectrum does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sigattn.data.types import Recording
from sigattn.errors import SigattnError

CLASSES: tuple[str, ...] = ("Normal", "IR", "B", "OR")
RPM_RANGE: tuple[float, float] = (1720.0, 1800.0)
RESONANCE_HZ: tuple[float, float] = (2500.0, 4000.0)
RMS_RANGE: tuple[float, float] = (0.05, 0.5)


@dataclass(frozen=True)
class BearingGeometry:
    """Rolling-element bearing geometry; the default is the SKF 6205 drive-end bearing of CWRU."""

    n_balls: int = 9
    ball_diameter: float = 0.3126  # inch
    pitch_diameter: float = 1.537  # inch
    contact_angle_deg: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.ball_diameter < self.pitch_diameter or self.n_balls < 1:
            raise SigattnError(
                f"bearing geometry needs n_balls >= 1 and 0 < ball_diameter < pitch_diameter; got {self}"
            )


SKF6205 = BearingGeometry()


def fault_frequencies(rpm: float, geometry: BearingGeometry = SKF6205) -> dict[str, float]:
    """Characteristic frequencies in Hz: shaft FR, cage FTF, outer BPFO, inner BPFI, ball spin BSF."""
    if not rpm > 0:
        raise SigattnError(f"rpm must be positive; got {rpm}")
    g = geometry
    fr = rpm / 60.0
    ratio = g.ball_diameter / g.pitch_diameter * float(np.cos(np.deg2rad(g.contact_angle_deg)))
    return {
        "FR": fr,
        "FTF": fr / 2 * (1 - ratio),
        "BPFO": g.n_balls * fr / 2 * (1 - ratio),
        "BPFI": g.n_balls * fr / 2 * (1 + ratio),
        "BSF": g.pitch_diameter / (2 * g.ball_diameter) * fr * (1 - ratio**2),
    }


def fault_rates(rpm: float, geometry: BearingGeometry = SKF6205) -> dict[str, float]:
    """The rates (Hz) at which a local defect is struck: BPFO, BPFI and 2 x BSF (a ball defect meets
    both races once per spin)."""
    f = fault_frequencies(rpm, geometry)
    return {"BPFO": f["BPFO"], "BPFI": f["BPFI"], "2xBSF": 2 * f["BSF"]}


def _bursts(
    rng: np.random.Generator, n: int, fs: float, times: np.ndarray, amps: np.ndarray, f_res: float
) -> np.ndarray:
    """Sum of exponentially decaying sinusoids at `f_res` starting at `times` with `amps`."""
    decay = 2 * np.pi * f_res * rng.uniform(0.02, 0.04)  # damping ratio 2-4 %
    kernel_t = np.arange(int(5 / decay * fs) + 1) / fs
    kernel = np.exp(-decay * kernel_t) * np.sin(2 * np.pi * f_res * kernel_t)
    impulses = np.zeros(n + len(kernel))
    idx = np.round(times * fs).astype(np.int64)
    keep = (idx >= 0) & (idx < n)
    np.add.at(impulses, idx[keep], amps[keep])
    return np.convolve(impulses, kernel)[:n]


def synthetic_signal(
    label: str, fs: float, seconds: float, rng: np.random.Generator, geometry: BearingGeometry = SKF6205
) -> tuple[np.ndarray, dict]:
    """One (samples,) float64 signal of class `label` and its facts (rpm, fault rate, resonance)."""
    if label not in CLASSES:
        raise SigattnError(f"unknown synthetic class {label!r}; expected one of: {', '.join(CLASSES)}")
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    rpm = rng.uniform(*RPM_RANGE)
    freqs = fault_frequencies(rpm, geometry)
    fr = freqs["FR"]
    f_res = rng.uniform(*RESONANCE_HZ)
    x = sum(rng.uniform(0.2, 0.6) / h * np.sin(2 * np.pi * h * fr * t + rng.uniform(0, 2 * np.pi)) for h in (1, 2, 3))
    x = x + rng.normal(0.0, 1.0, n)
    knocks = rng.uniform(0, seconds, rng.poisson(3 * seconds))  # aperiodic knocks, every class
    x = x + _bursts(rng, n, fs, knocks, rng.uniform(2.0, 6.0, len(knocks)), f_res)
    fault_hz = {"IR": freqs["BPFI"], "B": 2 * freqs["BSF"], "OR": freqs["BPFO"]}.get(label)
    if fault_hz is not None:
        period = 1.0 / fault_hz
        times = rng.uniform(0, period) + np.arange(int(seconds * fault_hz) + 1) * period
        times = times + rng.normal(0, 0.01 * period, len(times))  # slip: ~1 % arrival jitter
        mod_hz = {"IR": fr, "B": freqs["FTF"], "OR": 0.0}[label]
        phase = rng.uniform(0, 2 * np.pi)
        amps = rng.uniform(2.0, 4.0) * (1 + 0.5 * np.cos(2 * np.pi * mod_hz * times + phase))
        amps = amps * rng.uniform(0.9, 1.1, len(times))
        x = x + _bursts(rng, n, fs, times, amps, f_res)
    rms = rng.uniform(*RMS_RANGE)
    x = x * (rms / np.sqrt(np.mean(x**2)))
    meta = {
        "rpm": float(rpm),
        "fault_hz": float(fault_hz or 0.0),
        "resonance_hz": float(f_res),
        "rms": float(rms),
    }
    return x, meta


def synthetic_recordings(
    n_per_class: int = 20, seconds: float = 2.0, fs: float = 12000.0, seed: int = 0
) -> list[Recording]:
    """`n_per_class` single-channel recordings per class; each one's group and source is its id.

    Recording i of class c depends only on (seed, c, i), so sets of different sizes agree.
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 1:
        raise SigattnError(f"n_per_class must be a positive integer; got {n_per_class!r}")
    if not seconds > 0 or not fs > 0:
        raise SigattnError(f"seconds and fs must be positive; got seconds={seconds}, fs={fs}")
    recordings = []
    for c, label in enumerate(CLASSES):
        for i in range(n_per_class):
            rng = np.random.default_rng([seed, c, i])
            x, meta = synthetic_signal(label, float(fs), float(seconds), rng)
            rid = f"syn-{label}-{i:03d}"
            meta["fault"] = label
            recordings.append(
                Recording(
                    signal=x[None].astype(np.float32),
                    fs=float(fs),
                    label=label,
                    group=rid,
                    source=rid,
                    meta=meta,
                )
            )
    return recordings
