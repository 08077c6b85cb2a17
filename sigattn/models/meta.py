"""`ModelMeta`: what a trained model carries beside its weights, checked on load.

It says how to rebuild the network (backbone config, signal channels, classes, side inputs) and
how to prepare new signals for it (rate, window, transforms, beat geometry), and holds the whole
run config so that eval and resume need nothing else. It is stored as plain JSON-able data under
a checkpoint's "meta" key, with a `format` number: format 1 (side features packed into an extra
input channel) is read and converted; any other format is refused with a clear message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sigattn.errors import SigattnError

FORMAT = 2
_READABLE = (1, 2)


@dataclass(frozen=True)
class BeatGeometry:
    """Beat windows around annotated R peaks: `before` + `after` samples on `lead` (names to try, comma-separated)."""

    lead: str
    before: int
    after: int


@dataclass(frozen=True)
class ModelMeta:
    """A trained model's contract. `side_features` names the second input (N, F); empty: none."""

    model: dict[str, Any]
    in_channels: int
    classes: tuple[str, ...]
    fs: float
    window_length: int
    window_stride: int | None
    transforms: tuple[dict[str, Any], ...]
    dataset: str
    ecg: bool = False
    side_features: tuple[str, ...] = ()
    side_stats: dict[str, list[Any]] | None = None  # train-split mean/std the side features were standardised with
    beat: BeatGeometry | None = None
    config: dict[str, Any] = field(default_factory=dict)
    sigattn_version: str = "unknown"

    @property
    def signal_channels(self) -> int:
        """Channels of the signal a user gives: `in_channels` less those the transforms add
        (each `add_envelope` appends one envelope per channel)."""
        added = sum(step.get("name") == "add_envelope" for step in self.transforms)
        return self.in_channels >> added

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data with the format number, as stored in a checkpoint."""
        data = asdict(self)
        data["classes"], data["transforms"] = list(self.classes), list(self.transforms)
        data["side_features"] = list(self.side_features)
        return {"format": FORMAT, **data}

    @classmethod
    def from_dict(cls, data: Any, where: str = "checkpoint") -> ModelMeta:
        """Read stored meta; an unknown format or a missing key is a SigattnError naming `where`."""
        if not isinstance(data, dict):
            raise SigattnError(f"{where} has no model metadata; expected a checkpoint written by sigattn")
        version = data.get("format")
        if version not in _READABLE:
            raise SigattnError(
                f"{where} has metadata format {version!r}; this sigattn reads formats "
                f"{', '.join(map(str, _READABLE))} (retrain or use a matching sigattn version)"
            )
        data = _from_format_1(data) if version == 1 else data
        try:
            beat = data.get("beat")
            return cls(
                model=dict(data["model"]),
                in_channels=int(data["in_channels"]),
                classes=tuple(data["classes"]),
                fs=float(data["fs"]),
                window_length=int(data["window_length"]),
                window_stride=None if data["window_stride"] is None else int(data["window_stride"]),
                transforms=tuple(dict(t) for t in data["transforms"]),
                dataset=str(data["dataset"]),
                ecg=bool(data.get("ecg", False)),
                side_features=tuple(data.get("side_features") or ()),
                side_stats=data.get("side_stats"),
                beat=None if beat is None else BeatGeometry(str(beat["lead"]), int(beat["before"]), int(beat["after"])),
                config=dict(data.get("config") or {}),
                sigattn_version=str(data.get("sigattn_version", "unknown")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SigattnError(f"{where} has incomplete model metadata: missing or bad {error}") from None


def _from_format_1(data: dict[str, Any]) -> dict[str, Any]:
    """Format 1 packed F side features into one extra input channel (model option side_features=F)."""
    model = {**data["model"], "options": dict(data["model"].get("options") or {})}
    n_side = int(model["options"].pop("side_features", 0) or 0)
    window = data.get("window") or {}
    return {
        **data,
        "model": model,
        "in_channels": int(data["in_channels"]) - (1 if n_side else 0),
        "side_features": [f"side_{i}" for i in range(n_side)],
        "window_length": window.get("length"),
        "window_stride": window.get("stride"),
    }
