"""The `train.augment` section: random changes to the training windows (sigattn.train.augment).

Every option is off by default, so a run without `augment` draws nothing extra and trains as before.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator

from sigattn.config.fields import NonNegativeInt, PositiveNumber, as_number, bounded, one_of
from sigattn.config.validation import Section, must_be

ShiftMode = Literal["edge", "circular"]
Relative = bounded(0.0, 10.0)  # [0, 10): a multiple of the window's std
Fractional = bounded(0.0, 0.5)  # [0, 0.5): a relative change
Decibels = bounded(0.0, 40.0)


def _scale_range(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    numbers = [as_number(v) for v in value] if isinstance(value, (list, tuple)) else []
    if len(numbers) != 2 or any(n is None or n <= 0 for n in numbers) or numbers[0] > numbers[1]:
        raise must_be("null or [low, high] with 0 < low <= high", value)
    return (numbers[0], numbers[1])


class WanderConfig(Section):
    """A slow sinusoid added to each window: peak `amplitude` up to this multiple of the window's
    std, frequency uniform in (0, `max_hz`] Hz, random phase."""

    where: ClassVar[str] = "train.augment.baseline_wander"
    amplitude: PositiveNumber = 0.1
    max_hz: PositiveNumber = 0.5


class AugmentConfig(Section):
    """Training-batch augmentation. `amplitude` [low, high]: scale each window by a factor drawn
    from that range; `noise`: Gaussian noise with this multiple of the window's std; `baseline_wander`:
    see `WanderConfig`; `shift`: move each window by up to ±`shift` samples (R-peak jitter),
    wrapping round (`circular`) or repeating the edge sample (`edge`); `stretch`: resample each
    window in time by a factor drawn from [1 - stretch, 1 + stretch] about its centre (a speed or
    heart-rate change of that many per cent, linear interpolation); `equalizer_db`: filter each window
    with a random equaliser, a gain drawn within ±`equalizer_db` dB at each octave from Nyquist/128
    to Nyquist (a 129-tap linear-phase FIR from `scipy.signal.firwin2`): another transfer path or
    resonance, on which the timing of a fault's impacts does not depend."""

    where: ClassVar[str] = "train.augment"
    amplitude: Annotated[tuple[float, float] | None, BeforeValidator(_scale_range)] = None
    noise: Relative = 0.0
    baseline_wander: WanderConfig | None = None
    shift: NonNegativeInt = 0
    shift_mode: Annotated[ShiftMode, one_of(ShiftMode)] = "edge"
    stretch: Fractional = 0.0
    equalizer_db: Decibels = 0.0

    @property
    def active(self) -> bool:
        """Whether any augmentation is on."""
        return bool(
            self.amplitude or self.noise or self.baseline_wander or self.shift or self.stretch or self.equalizer_db
        )
