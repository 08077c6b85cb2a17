"""QRS detection against the MIT-BIH DS2 reference beats: sensitivity and positive predictivity.

Usage: SIGATTN_DATA_DIR=/path/to/data python benchmarks/beat_detection.py [--detector xqrs gqrs] [--cores 2]

`xqrs` is what `sigattn predict --beats detect` uses (sigattn.evaluate.beats.detect_beats:
wfdb.processing.XQRS, peaks moved to the local maximum within 50 ms); `gqrs` is
wfdb.processing.gqrs_detect with the same correction. Detections are matched to the reference
AAMI beat annotations of each DS2 record (MLII lead) by wfdb.processing.compare_annotations
within 150 ms. Prints a table and writes benchmarks/results/beat_detection.json. Without
SIGATTN_DATA_DIR it prints a skip line and exits 0.

With `--checkpoint best.pt` (a beat model) it also classifies each record's beats twice, as
`sigattn predict` does: on the reference beats (`--beats annotations`) and on the XQRS beats
(`--beats detect`), and scores both against the reference AAMI labels; a detected beat takes the
label of the reference beat it matches, unmatched ones are left out (they are the FP/FN above).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import wfdb.processing

from sigattn.data.mitdb import AAMI_MAP
from sigattn.data.paths import data_root
from sigattn.data.splits import DS2
from sigattn.data.wfdb_records import read_annotations, read_lead
from sigattn.evaluate.beats import detect_beats

WINDOW_S = 0.15


def _gqrs(x: np.ndarray, fs: float) -> np.ndarray:
    peaks = wfdb.processing.gqrs_detect(sig=x.astype(np.float64), fs=fs)
    radius, smooth = round(0.05 * fs), round(0.1 * fs)
    return np.unique(wfdb.processing.correct_peaks(x, peaks, radius, smooth, peak_dir="compare"))


def score_record(base: Path, detector: str) -> dict:
    """TP, FP, FN and seconds of `detector` on one record, against its AAMI beat annotations."""
    x, fs, _ = read_lead(base, ("MLII",))
    samples, symbols = read_annotations(base, "atr", x.size)
    reference = np.sort(samples[[s in AAMI_MAP for s in symbols]])
    start = time.perf_counter()
    found = detect_beats(x, fs) if detector == "xqrs" else _gqrs(x, fs)
    seconds = time.perf_counter() - start
    c = wfdb.processing.compare_annotations(reference, np.asarray(found), round(WINDOW_S * fs))
    return {"record": base.name, "detector": detector, "tp": int(c.tp), "fp": int(c.fp), "fn": int(c.fn),
            "seconds": round(seconds, 2)}  # fmt: skip


def classify_record(base: Path, checkpoint: str) -> dict:
    """Reference labels, predictions on the reference beats, and on the matched detected beats of one record."""
    from sigattn.data.mitdb import aami_beats
    from sigattn.evaluate.beats import record_inputs
    from sigattn.evaluate.predict import predict_proba
    from sigattn.models.checkpoint import model_from_checkpoint

    torch.set_num_threads(1)
    model, meta = model_from_checkpoint(checkpoint)
    x, fs, _ = read_lead(base, meta.beat.lead.split(","))
    _, y = aami_beats(*read_annotations(base, "atr", x.size))
    out = {"record": base.name, "y": y.tolist()}
    for source in ("annotations", "detect"):
        inputs = record_inputs(base.with_suffix(".hea"), meta, beats=source)
        predicted = predict_proba(model, inputs.x, side=inputs.side).argmax(1)
        out[source] = (predicted.tolist(), inputs.samples.tolist())
    reference = out["annotations"][1]
    c = wfdb.processing.compare_annotations(np.asarray(reference), np.asarray(out["detect"][1]), round(WINDOW_S * fs))
    match = np.asarray(c.matching_sample_nums)  # per reference beat: index of its detected beat, or -1
    out["matched"] = match.tolist()
    return out


def classification_table(parts: list[dict], classes: tuple[str, ...]) -> dict:
    """Macro-F1 and per-class Se/+P on reference beats and on matched detected beats, all records pooled."""
    from sigattn.evaluate.metrics import classification_metrics

    y = np.concatenate([p["y"] for p in parts]).astype(int)
    ref = np.concatenate([p["annotations"][0] for p in parts]).astype(int)
    match = [np.asarray(p["matched"]) for p in parts]
    y_det = np.concatenate([np.asarray(p["y"])[m >= 0] for p, m in zip(parts, match, strict=True)]).astype(int)
    det = np.concatenate([np.asarray(p["detect"][0])[m[m >= 0]] for p, m in zip(parts, match, strict=True)])
    out = {}
    print(f"{'beats':12} {'n':>6} {'macro-F1':>8} " + " ".join(f"{'Se_' + c:>6} {'+P_' + c:>6}" for c in "SV"))
    for name, truth, pred in (("reference", y, ref), ("detected", y_det, det.astype(int))):
        m = classification_metrics(truth, pred, classes, ecg=True)
        out[name] = {k: m[k] for k in ("n", "macro_f1", "se_S", "ppv_S", "se_V", "ppv_V") if k in m}
        row = " ".join(f"{100 * m.get('se_' + c, 0):6.1f} {100 * m.get('ppv_' + c, 0):6.1f}" for c in "SV")
        print(f"{name:12} {len(truth):6d} {m['macro_f1']:8.3f} {row}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", nargs="+", default=["xqrs", "gqrs"], choices=["xqrs", "gqrs"])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--records", nargs="+", default=list(DS2), help="MIT-BIH records [default: DS2]")
    parser.add_argument("--checkpoint", help="A beat model: also score its classification on detected beats")
    args = parser.parse_args()
    root = data_root()
    if root is None or not (root / "mitdb" / "100.hea").is_file():
        print("skip: set SIGATTN_DATA_DIR to a folder holding mitdb/ (sigattn data fetch mitdb --to DIR)")
        return
    jobs = [(root / "mitdb" / r, d) for d in args.detector for r in args.records]
    with ProcessPoolExecutor(args.cores) as pool:
        rows = list(pool.map(score_record, *zip(*jobs, strict=True)))
    summary = {}
    print(f"{'detector':8} {'beats':>6} {'TP':>6} {'FP':>5} {'FN':>5} {'Se %':>6} {'+P %':>6} {'s/record':>8}")
    for d in args.detector:
        mine = [r for r in rows if r["detector"] == d]
        tp, fp, fn = (sum(r[k] for r in mine) for k in ("tp", "fp", "fn"))
        se, ppv = 100 * tp / (tp + fn), 100 * tp / (tp + fp)
        secs = float(np.mean([r["seconds"] for r in mine]))
        summary[d] = {"tp": tp, "fp": fp, "fn": fn, "se": round(se, 2), "ppv": round(ppv, 2), "s_per_record": secs}
        print(f"{d:8} {tp + fn:6d} {tp:6d} {fp:5d} {fn:5d} {se:6.2f} {ppv:6.2f} {secs:8.1f}")
    out = Path(__file__).parent / "results" / "beat_detection.json"
    out.parent.mkdir(exist_ok=True)
    result = {"records": list(args.records), "window_s": WINDOW_S, "summary": summary, "per_record": rows,
              "command": " ".join(["python", *sys.argv])}  # fmt: skip
    if args.checkpoint:
        from sigattn.data.mitdb import AAMI_CLASSES

        bases = [root / "mitdb" / r for r in args.records]
        with ProcessPoolExecutor(args.cores) as pool:
            parts = list(pool.map(classify_record, bases, [args.checkpoint] * len(bases)))
        result["classification"] = {"checkpoint": args.checkpoint, **classification_table(parts, AAMI_CLASSES)}
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
