"""Does a bearing recording carry a fault signature? The squared-envelope check.

A local bearing defect is struck once per passage: at the outer-race rate (BPFO), the inner-race
rate (BPFI) or twice the ball-spin rate (2 x BSF), all fixed by the shaft speed and the bearing
geometry, whatever the defect size. Each strike rings the structure's resonances, so the rate shows
up in the spectrum of the squared envelope of a band around a resonance. `fault_signature` measures,
per band, how far each rate and its harmonics stand out of the surrounding envelope spectrum: a
prominence near 1-5 is background, tens to hundreds a clear signature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sigattn.data.filters import bandpass, envelope
from sigattn.data.synthetic import SKF6205, BearingGeometry, fault_rates
from sigattn.data.types import Recording
from sigattn.errors import SigattnError

BANDS_HZ: tuple[tuple[float, float], ...] = ((500.0, 2000.0), (2000.0, 4000.0), (4000.0, 5800.0))
RATES: tuple[str, ...] = ("BPFO", "BPFI", "2xBSF")
FAULT_OF_RATE = {"BPFO": "OR", "BPFI": "IR", "2xBSF": "B"}
NYQUIST_SHARE = 0.97  # a band's upper edge is cut to this share of fs/2


@dataclass(frozen=True)
class Signature:
    """`prominence[band][rate]`; `points_to` the rate whose best band stands out most; `margin` that
    prominence over the runner-up's best (near 1: the envelope does not tell the faults apart)."""

    prominence: dict[str, dict[str, float]]
    points_to: str
    margin: float

    def reads_as(self, margin: float = 2.0) -> str:
        """The fault (OR, IR, B) whose rate leads by at least `margin`, else "none"."""
        return FAULT_OF_RATE[self.points_to] if self.margin >= margin else "none"


def squared_envelope_spectrum(x: np.ndarray, fs: float, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, magnitude) of the spectrum of the squared envelope of `x`'s `low`-`high` Hz
    band (Hann window, mean removed); `x` is one (T,) signal."""
    squared = envelope(bandpass(np.asarray(x, dtype=np.float64), fs, low, high)) ** 2
    squared -= squared.mean()
    return np.fft.rfftfreq(len(squared), 1 / fs), np.abs(np.fft.rfft(squared * np.hanning(len(squared))))


def prominence(
    freqs: np.ndarray, spectrum: np.ndarray, rate_hz: float, harmonics: int = 3, tolerance: float = 0.02
) -> float:
    """Mean over the first `harmonics` multiples of `rate_hz` of the spectrum's peak within ±`tolerance`
    divided by the median of the rest of ±20 % around the multiple."""
    ratios = []
    for k in range(1, harmonics + 1):
        f = k * rate_hz
        near = np.abs(freqs - f) <= max(tolerance * f, freqs[1])
        around = (np.abs(freqs - f) <= 0.2 * f) & ~near
        if f >= freqs[-1] or not around.any():
            break
        ratios.append(spectrum[near].max() / max(float(np.median(spectrum[around])), 1e-30))
    if not ratios:
        raise SigattnError(f"fault rate {rate_hz:.1f} Hz is above the spectrum's {freqs[-1]:.0f} Hz")
    return float(np.mean(ratios))


def usable_bands(fs: float, bands: tuple[tuple[float, float], ...] = BANDS_HZ) -> list[tuple[float, float]]:
    """`bands` with upper edges cut to 0.97 x fs/2; bands left empty are dropped (error if none is left)."""
    top = NYQUIST_SHARE * fs / 2
    kept = [(low, min(high, top)) for low, high in bands if 0 < low < min(high, top)]
    if not kept:
        named = ", ".join(f"{low:g}-{high:g}" for low, high in bands)
        raise SigattnError(f"no envelope band ({named} Hz) lies below {top:g} Hz (0.97 x fs/2 at {fs:g} Hz)")
    return kept


def fault_signature(
    x: np.ndarray,
    fs: float,
    rpm: float,
    geometry: BearingGeometry = SKF6205,
    bands: tuple[tuple[float, float], ...] = BANDS_HZ,
) -> Signature:
    """The squared-envelope prominence of BPFO, BPFI and 2 x BSF in each band of one (T,) recording."""
    rates = fault_rates(rpm, geometry)
    table = {}
    for low, high in usable_bands(fs, bands):
        freqs, spectrum = squared_envelope_spectrum(x, fs, low, high)
        table[f"{low:g}-{high:g}"] = {name: prominence(freqs, spectrum, hz) for name, hz in rates.items()}
    best = {name: max(row[name] for row in table.values()) for name in RATES}
    ranked = sorted(RATES, key=best.get, reverse=True)
    return Signature(table, ranked[0], best[ranked[0]] / best[ranked[1]])


def recording_signatures(
    recordings: list[Recording],
    *,
    rpm: float | None = None,
    geometry: BearingGeometry = SKF6205,
    bands: tuple[tuple[float, float], ...] = BANDS_HZ,
    channel: int = 0,
    margin: float = 2.0,
) -> list[dict]:
    """One row per recording: source, label, rpm (its own, else `rpm`), prominence per band, the
    rate it points to, the margin and what it reads as."""
    rows = []
    for rec in recordings:
        speed = rec.meta.get("rpm", rpm)
        if speed is None:
            raise SigattnError(f"{rec.source}: the recording carries no shaft speed; pass --rpm")
        if channel >= (n := rec.signal.shape[0]):
            raise SigattnError(f"{rec.source}: --channel {channel}, but it has {n} channel(s); expected 0-{n - 1}")
        try:
            found = fault_signature(rec.signal[channel], rec.fs, float(speed), geometry, bands)
        except SigattnError as error:
            raise SigattnError(f"{rec.source}: {error}") from None
        facts = {"recording": rec.source, "label": rec.label, "rpm": float(speed), "prominence": found.prominence}
        rows.append({**facts, "points_to": found.points_to, "margin": found.margin, "reads_as": found.reads_as(margin)})
    return rows
