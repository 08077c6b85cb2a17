"""Predict on new files with a trained model, using the model's own transforms and windowing."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from sigattn.data.filters import resample
from sigattn.data.manifest import read_signal
from sigattn.data.transforms import Pipeline
from sigattn.data.windows import sliding_windows
from sigattn.errors import SigattnError
from sigattn.evaluate.predict import predict_proba
from sigattn.models.meta import ModelMeta

SIGNAL_SUFFIXES = (".csv", ".npy", ".mat", ".hea")


def input_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """Signal files named by `paths` (files, `file.mat#key`, WFDB records, or folders of files).

    Returns (files, skipped): a folder contributes its files with a known suffix, sorted;
    other files in it are skipped and reported, never guessed at.
    """
    files: list[str] = []
    skipped: list[str] = []
    for given in paths:
        base = Path(given.partition("#")[0])
        if base.is_dir():
            inside = sorted(p for p in base.iterdir() if p.is_file())
            found = [str(p) for p in inside if p.suffix.lower() in SIGNAL_SUFFIXES]
            wfdb_parts = {p.with_suffix(".hea") for p in inside if p.with_suffix(".hea").is_file()}
            skipped += [str(p) for p in inside if p.suffix.lower() not in SIGNAL_SUFFIXES and p not in wfdb_parts]
            if not found:
                raise SigattnError(f"{base}: no signal files; expected {', '.join(SIGNAL_SUFFIXES)} files")
            files += found
        elif base.is_file() or base.with_suffix(".hea").is_file():
            files.append(given)
        else:
            raise SigattnError(f"{given}: no such file or directory")
    return files, skipped


def windows_for_model(
    signal: np.ndarray, fs: float | None, meta: ModelMeta, source: str
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Windows (N, C, L) of one (C, T) signal, prepared as at training time, their starts, and a
    one-line note when the rate was assumed or changed.

    Starts are sample indices in the input signal. `fs` None means "at the model's rate" (noted).
    A signal at another rate is resampled to the model's (scipy.signal.resample_poly; noted),
    unless the model's transforms resample it themselves.
    """
    if meta.side_features or meta.beat is not None:
        raise SigattnError(
            f"{source}: this model also reads the RR intervals of annotated beats; it predicts beat by beat on "
            "WFDB records (.hea) with --beats annotations or --beats detect"
        )
    channels, expected = signal.shape[0], meta.signal_channels
    if channels != expected:
        raise SigattnError(f"{source}: {channels} channel(s); the model expects {expected}")
    pipeline = Pipeline(list(meta.transforms))
    resamples = any(step["name"] == "resample" for step in pipeline.record_steps)
    model_fs, note, input_fs = meta.fs, None, fs
    if fs is None:
        if resamples:
            raise SigattnError(f"{source}: sampling rate unknown; pass --fs (the model resamples its input)")
        fs = input_fs = model_fs
        note = f"{source}: the file carries no sampling rate; assumed the model's {model_fs:g} Hz (else pass --fs)"
    elif not resamples and not np.isclose(fs, model_fs):
        signal, fs = resample(signal, fs, model_fs)
        note = f"{source}: resampled from {input_fs:g} Hz to the model's {model_fs:g} Hz (scipy.signal.resample_poly)"
    signal, out_fs = pipeline.apply_record(signal, fs)
    length = meta.window_length
    stride = meta.window_stride or length
    views, starts = sliding_windows(signal, length, stride, source=source)
    x = pipeline.apply_windows(np.ascontiguousarray(views, dtype=np.float32), out_fs)
    return np.asarray(x, dtype=np.float32), np.round(starts * input_fs / out_fs).astype(np.int64), note


@dataclass
class Predictions:
    """One row per window (file, start sample, start time, predicted class, probability per class) or,
    for beat models, per beat (file, R-peak sample, its time, ...); `notes` are one-line remarks."""

    classes: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BeatOptions:
    """Where beats come from (`annotations` or `detect`), the annotation extension, and an optional
    folder for WFDB annotation files of the predictions (`<record>.<out_extension>`)."""

    beats: str = "annotations"
    annotation: str = "atr"
    wfdb_out: Path | None = None
    out_extension: str = "pred"


def _predict_beats(model: nn.Module, meta: ModelMeta, name: str, options: BeatOptions, result: Predictions) -> None:
    from sigattn.evaluate.beats import record_inputs, write_beat_annotations

    if Path(name).suffix.lower() != ".hea" and not Path(name).with_suffix(".hea").is_file():
        raise SigattnError(f"{name}: not a WFDB record; beat models predict on WFDB records (.hea)")
    inputs = record_inputs(name, meta, beats=options.beats, annotation=options.annotation)
    if inputs.note:
        result.notes.append(f"{name}: {inputs.note}")
    probs = predict_proba(model, inputs.x, side=inputs.side)
    labels = [result.classes[int(i)] for i in probs.argmax(1)]
    for sample, label, p in zip(inputs.samples, labels, probs, strict=True):
        row = {"file": name, "sample": int(sample), "time_s": round(float(sample / inputs.fs), 6), "predicted": label}
        row.update({f"p_{c}": round(float(v), 6) for c, v in zip(result.classes, p, strict=True)})
        result.rows.append(row)
    if options.wfdb_out is not None:
        record = Path(name).with_suffix("").name
        path = write_beat_annotations(
            options.wfdb_out, record, inputs.samples, labels, options.out_extension, inputs.fs
        )
        result.notes.append(f"wrote {len(labels)} beat annotations to {path}")


def predict_files(
    model: nn.Module,
    meta: ModelMeta,
    paths: list[str],
    *,
    fs: float | None = None,
    batch_size: int = 1024,
    beat_options: BeatOptions | None = None,
) -> Predictions:
    """Predict every window of every input file (see `input_files`), or every beat of every WFDB
    record for a beat model (`beat_options`, see sigattn.evaluate.beats)."""
    files, skipped = input_files(paths)
    classes = list(meta.classes)
    result = Predictions(classes, skipped=skipped)
    if meta.beat is not None:
        for name in files:
            _predict_beats(model, meta, name, beat_options or BeatOptions(), result)
        return result
    if beat_options is not None:
        raise SigattnError("--beats, --annotation and --wfdb-out need a beat model (trained on mitdb or wfdb-beats)")
    for name in files:
        path, _, key = name.partition("#")
        signal, file_fs = read_signal(Path(path), key=key or None)
        if fs is not None and file_fs is not None and not np.isclose(fs, file_fs):
            raise SigattnError(f"{name}: --fs {fs:g} Hz contradicts the file's {file_fs:g} Hz")
        rate = file_fs if file_fs is not None else fs
        x, starts, note = windows_for_model(signal, rate, meta, name)
        result.notes += [note] if note else []
        probs = predict_proba(model, x, batch_size)
        seconds = starts / (rate or meta.fs)
        for start, t, p in zip(starts, seconds, probs, strict=True):
            row = {"file": name, "start": int(start), "time_s": round(float(t), 6)}
            row["predicted"] = classes[int(p.argmax())]
            row.update({f"p_{c}": round(float(v), 6) for c, v in zip(classes, p, strict=True)})
            result.rows.append(row)
    return result


def format_predictions(predictions: Predictions, fmt: str) -> str:
    """The rows as CSV or JSON text."""
    if fmt == "json":
        return json.dumps(predictions.rows, indent=1) + "\n"
    buffer = io.StringIO()
    first = ["file", "sample" if predictions.rows and "sample" in predictions.rows[0] else "start", "time_s"]
    columns = [*first, "predicted", *(f"p_{c}" for c in predictions.classes)]
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(predictions.rows)
    return buffer.getvalue()
