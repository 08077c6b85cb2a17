"""Does IG follow the fault rhythm? The class-average envelope spectrum of bearing attributions.

Each window's |IG| map (mean removed) gets its Hilbert envelope (scipy.signal.hilbert) and the
magnitude of that envelope's real FFT (numpy.fft.rfft); spectra are divided by their maximum and
averaged per class, with BPFI, BPFO and 2 x BSF of the SKF 6205 at the given shaft speed marked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy.signal import hilbert

from sigattn.data.synthetic import SKF6205, BearingGeometry, fault_rates
from sigattn.errors import SigattnError
from sigattn.explain.overlay import DPI, PANEL

LINES = (("BPFI", "--"), ("BPFO", "-."), ("2xBSF", ":"))  # black, told apart by line style


def envelope_spectra(maps: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(freqs (F,), spectra (N, F)): |rfft| of each map's Hilbert envelope, each divided by its maximum
    (DC left out)."""
    maps = np.asarray(maps, dtype=np.float64)
    envelope = np.abs(hilbert(maps - maps.mean(-1, keepdims=True), axis=-1))
    spectra = np.abs(np.fft.rfft(envelope - envelope.mean(-1, keepdims=True), axis=-1))
    spectra[:, 0] = 0.0
    return np.fft.rfftfreq(maps.shape[-1], 1 / fs), spectra / np.maximum(spectra.max(-1, keepdims=True), 1e-300)


def ig_envelope_figure(
    ig: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    fs: float,
    rpm: float,
    title: str,
    *,
    geometry: BearingGeometry = SKF6205,
    harmonics: int = 3,
) -> Figure:
    """Mean envelope spectrum of |IG| per true class, up to `harmonics` + 1 times the highest fault
    frequency, with vertical lines at BPFI, BPFO and 2 x BSF (their harmonics fainter)."""
    ig, y = np.asarray(ig, dtype=np.float64), np.asarray(y)
    if ig.ndim != 2 or y.shape != (len(ig),) or len(ig) == 0 or not fs > 0:
        raise SigattnError(f"need ig (N, L), y (N,) with N >= 1 and fs > 0; got {ig.shape}, {y.shape}, {fs}")
    marks = fault_rates(rpm, geometry)
    freqs, spectra = envelope_spectra(ig, fs)
    shown = freqs <= min(fs / 2, (harmonics + 1) * max(marks.values()))
    fig = Figure(figsize=(PANEL[0], 3.6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    for c, name in enumerate(classes):
        if (y == c).any():
            ax.plot(
                freqs[shown], spectra[y == c][:, shown].mean(0), linewidth=1.0, label=f"{name} (n={(y == c).sum()})"
            )
    for name, style in LINES:
        for k in range(1, harmonics + 1):
            ax.axvline(k * marks[name], color="black", linestyle=style, linewidth=1.0, alpha=1.0 if k == 1 else 0.35,
                       label=f"{name} {marks[name]:.1f} Hz" if k == 1 else None)  # fmt: skip
    ax.set_xlabel("envelope frequency (Hz)")
    ax.set_ylabel("mean |IG| envelope spectrum / max")
    ax.set_xlim(0.0, float(freqs[shown][-1]))
    ax.grid(alpha=0.3)
    ax.legend(title=f"true class; lines at {rpm:.0f} rpm", fontsize=8, ncol=2, loc="upper right")
    ax.set_title(f"{title}: Integrated Gradients, envelope spectrum per class", fontsize=10)
    return fig
