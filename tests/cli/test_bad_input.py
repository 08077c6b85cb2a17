"""Bad input through every command: exit 1 or 2, one `Error:` line naming the input and what was
expected, no traceback (unless --debug), and nothing left behind. The matrix is in docs/robustness.md."""

from __future__ import annotations

import builtins
import errno
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import wfdb
import yaml
from typer.testing import CliRunner

from sigattn.cli import app
from sigattn.errors import SigattnError
from sigattn.models.checkpoint import load_checkpoint, save_checkpoint
from sigattn.models.meta import ModelMeta

runner = CliRunner()
ROOT = os.geteuid() == 0  # root ignores file modes: permission cases are simulated or skipped


@pytest.fixture
def ckpt(tiny_checkpoint) -> Path:
    """A tiny CBAM model: 1 channel, 12000 Hz, windows of 256 samples, classes Normal/IR/B/OR."""
    return tiny_checkpoint("cbam")


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory and the only place inputs and outputs go (the cache lives beside it)."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("SIGATTN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("SIGATTN_DATA_DIR", raising=False)
    torch.set_num_threads(1)
    return folder


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def check_failure(result, code: int, words: list[str]) -> str:
    """Exit `code`, no traceback, one `Error:` line holding every word; returns that line."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    if code == 1:  # our own errors: that line is all there is
        assert result.stderr.strip() == errors[0] and not result.stdout.strip(), result.output
    for word in words:
        assert word in errors[0], f"{word!r} not in {errors[0]!r}"
    return errors[0]


# ---- inputs -------------------------------------------------------------------------------------


def npy(name: str, x: np.ndarray | None = None) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        data = np.random.default_rng(0).standard_normal(900) if x is None else x
        np.save(work / name, np.asarray(data))

    return make


def text(name: str, content: str | bytes) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return make


def cut(name: str, make_whole: Callable[[Path], None], keep: int) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        make_whole(work)
        (work / name).write_bytes((work / name).read_bytes()[:keep])

    return make


def mat(name: str) -> Callable[[Path], None]:
    return lambda work: scipy.io.savemat(work / name, {"X": np.random.default_rng(0).standard_normal(900)})


def record(name: str, fs: float = 12000, n: int = 900, leads: tuple[str, ...] = ("ECG",), where: str = "."):
    def make(work: Path) -> None:
        folder = work / where
        folder.mkdir(parents=True, exist_ok=True)
        signal = np.random.default_rng(0).standard_normal((n, len(leads))).round(2)
        wfdb.wrsamp(
            name, fs=fs, units=["mV"] * len(leads), sig_name=list(leads), p_signal=signal,
            fmt=["16"] * len(leads), adc_gain=[100.0] * len(leads), baseline=[0] * len(leads), write_dir=str(folder),
        )  # fmt: skip

    return make


def both(*makers: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        for m in makers:
            m(work)

    return make


def folder(name: str) -> Callable[[Path], None]:
    return lambda work: (work / name).mkdir()


def manifest(rows: str, *makers: Callable[[Path], None]) -> Callable[[Path], None]:
    return both(text("m.csv", "path,label,fs\n" + rows), *makers)


def pipeline(content: dict) -> Callable[[Path], None]:
    return text("p.yaml", yaml.safe_dump(content))


def nothing(work: Path) -> None:
    pass


LONG = np.random.default_rng(1).standard_normal(3000)
DESCRIBE_MANIFEST = ["data", "describe", "manifest", "--manifest", "m.csv"]
SIGNATURE = ["data", "signature", "manifest", "--manifest", "m.csv"]
SIGNATURE_INPUT = manifest("x.npy,OR,12000\n", npy("x.npy", np.random.default_rng(0).standard_normal(12000)))

# (id, setup, command line ("{ck}" is the checkpoint), exit code, words the error line must hold)
CASES = [
    # nonexistent paths and folders where a file is expected
    ("train-missing-config", nothing, ["train", "nope.yaml"], 1, ["nope.yaml", "not found", "expected a YAML file"]),
    ("train-config-is-a-folder", folder("cfg"), ["train", "cfg"], 1, ["cfg", "expected a YAML file"]),
    ("eval-missing-checkpoint", nothing, ["eval", "nope.pt"], 1, ["nope.pt", "does not exist"]),
    ("eval-missing-config", nothing, ["eval", "{ck}", "--config", "c.yaml"], 1, ["c.yaml", "expected a YAML file"]),
    ("predict-missing-input", nothing, ["predict", "{ck}", "x.npy"], 1, ["x.npy", "no such file or directory"]),
    ("explain-missing-input", nothing, ["explain", "{ck}", "x.npy"], 1, ["x.npy", "no such file or directory"]),
    ("describe-missing-manifest", nothing, DESCRIBE_MANIFEST, 1, ["m.csv", "not found", "expected a CSV file"]),
    ("describe-manifest-is-a-folder", folder("m.csv"), DESCRIBE_MANIFEST, 1, ["m.csv", "is a folder", "expected"]),
    (
        "describe-missing-data-dir",
        nothing,
        ["data", "describe", "cwru", "--data-dir", "nodir"],
        1,
        ["nodir", "does not exist", "expected a folder"],
    ),
    ("run-missing-pipeline", nothing, ["run", "nope.yaml"], 1, ["nope.yaml", "not found", "expected a YAML file"]),
    # empty, truncated and corrupt files
    ("predict-empty-csv", text("x.csv", ""), ["predict", "{ck}", "x.csv"], 1, ["x.csv", "no samples", "expected"]),
    ("predict-header-only-csv", text("x.csv", "a,b\n"), ["predict", "{ck}", "x.csv"], 1, ["x.csv", "no samples"]),
    (
        "predict-binary-csv",
        text("x.csv", b"\xff\xfe\x00\x01garbage"),
        ["predict", "{ck}", "x.csv"],
        1,
        ["x.csv", "not a readable CSV"],
    ),
    ("predict-empty-npy", text("x.npy", b""), ["predict", "{ck}", "x.npy"], 1, ["x.npy", "not a readable .npy"]),
    ("predict-truncated-npy", cut("x.npy", npy("x.npy"), 200), ["predict", "{ck}", "x.npy"], 1, ["x.npy", "truncated"]),
    (
        "predict-pickled-npy",
        lambda w: np.save(w / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True),
        ["predict", "{ck}", "x.npy"],
        1,
        ["x.npy", "allow_pickle=False"],
    ),
    ("predict-3d-npy", npy("x.npy", np.zeros((2, 2, 900))), ["predict", "{ck}", "x.npy"], 1, ["x.npy", "1D or 2D"]),
    (
        "predict-text-npy",
        npy("x.npy", np.array(["a", "b"])),
        ["predict", "{ck}", "x.npy"],
        1,
        ["x.npy", "expected a numeric array"],
    ),
    ("predict-empty-mat", text("x.mat", b""), ["predict", "{ck}", "x.mat"], 1, ["x.mat", "not a readable MAT"]),
    ("predict-truncated-mat", cut("x.mat", mat("x.mat"), 300), ["predict", "{ck}", "x.mat"], 1, ["x.mat", "truncated"]),
    ("predict-corrupt-mat", text("x.mat", b"junk" * 40), ["predict", "{ck}", "x.mat"], 1, ["x.mat", "not a readable"]),
    ("predict-mat-unknown-key", mat("x.mat"), ["predict", "{ck}", "x.mat#Y"], 1, ["x.mat", "'Y'", "available: X"]),
    (
        "predict-truncated-wfdb",
        cut("r.dat", record("r"), 100),
        ["predict", "{ck}", "r.hea"],
        1,
        ["r.hea", "could not read WFDB record"],
    ),
    (
        "predict-wfdb-without-signal-file",
        both(record("r"), lambda w: (w / "r.dat").unlink()),
        ["predict", "{ck}", "r"],
        1,
        ["r.hea", "r.dat is missing"],
    ),
    (
        "predict-corrupt-wfdb-header",
        text("r.hea", "this is not a header\n"),
        ["predict", "{ck}", "r.hea"],
        1,
        ["r.hea", "could not read WFDB record"],
    ),
    (
        "predict-unsupported-format",
        text("x.txt", "1\n2\n"),
        ["predict", "{ck}", "x.txt"],
        1,
        ["x.txt", "unsupported format", "expected .csv, .npy"],
    ),
    ("eval-empty-checkpoint", text("c.pt", b""), ["eval", "c.pt"], 1, ["c.pt", "corrupt or truncated"]),
    (
        "eval-garbage-checkpoint",
        text("c.pt", b"not a checkpoint at all"),
        ["eval", "c.pt"],
        1,
        ["c.pt", "not a torch checkpoint", "expected a .pt file"],
    ),
    (
        "predict-npy-as-checkpoint",
        npy("x.npy"),
        ["predict", "x.npy", "x.npy"],
        1,
        ["x.npy", "not a torch checkpoint"],
    ),
    ("train-corrupt-yaml", text("c.yaml", "data: [1, 2\n"), ["train", "c.yaml"], 1, ["c.yaml", "not valid YAML"]),
    ("train-yaml-not-a-mapping", text("c.yaml", "- 1\n"), ["train", "c.yaml"], 1, ["c.yaml", "must hold a mapping"]),
    ("run-corrupt-yaml", text("p.yaml", "grid: {a: [1\n"), ["run", "p.yaml"], 1, ["p.yaml", "not valid YAML"]),
    ("run-empty-pipeline", text("p.yaml", ""), ["run", "p.yaml"], 1, ["p.yaml", "must be a mapping"]),
    (
        "describe-manifest-truncated-mat",
        manifest("x.mat,a,1000\n", cut("x.mat", mat("x.mat"), 300)),
        DESCRIBE_MANIFEST,
        1,
        ["m.csv line 2", "x.mat", "truncated"],
    ),
    ("describe-empty-manifest", text("m.csv", ""), DESCRIBE_MANIFEST, 1, ["m.csv", "missing column(s) path, label"]),
    (
        "describe-manifest-without-rows",
        text("m.csv", "path,label\n"),
        DESCRIBE_MANIFEST,
        1,
        ["m.csv", "no recordings", "expected rows"],
    ),
    # text in numeric columns
    (
        "predict-text-in-csv",
        text("x.csv", "1\n2\nabc\n4\n"),
        ["predict", "{ck}", "x.csv"],
        1,
        ["x.csv line 3", "expected numbers", "'abc'"],
    ),
    (
        "predict-ragged-csv",
        text("x.csv", "1,2\n3\n"),
        ["predict", "{ck}", "x.csv"],
        1,
        ["x.csv line 2", "1 columns; expected 2"],
    ),
    (
        "describe-text-in-fs-column",
        manifest("x.npy,a,fast\n", npy("x.npy")),
        DESCRIBE_MANIFEST,
        1,
        ["m.csv line 2", "fs 'fast' is not a number"],
    ),
    ("train-text-for-epochs", nothing, ["train", "--epochs", "ten"], 2, ["--epochs", "valid integer"]),
    ("predict-text-for-fs", nothing, ["predict", "{ck}", "x.npy", "--fs", "fast"], 2, ["--fs", "valid number"]),
    # NaN / Inf samples
    ("predict-nan-npy", npy("x.npy", np.full(900, np.nan)), ["predict", "{ck}", "x.npy"], 1, ["x.npy", "NaN/Inf"]),
    (
        "predict-inf-in-csv",
        text("x.csv", "".join(f"{v}\n" for v in [*range(500), "inf", *range(500)])),
        ["predict", "{ck}", "x.csv"],
        1,
        ["x.csv", "1 NaN/Inf samples (first at sample 500)"],
    ),
    ("explain-nan-npy", npy("x.npy", np.full(900, np.nan)), ["explain", "{ck}", "x.npy"], 1, ["x.npy", "NaN/Inf"]),
    (
        "describe-manifest-inf",
        manifest("x.npy,a,1000\n", npy("x.npy", np.r_[LONG, np.inf])),
        DESCRIBE_MANIFEST,
        1,
        ["m.csv line 2", "x.npy", "NaN/Inf"],
    ),
    # signals shorter than a window
    (
        "predict-shorter-than-a-window",
        npy("x.npy", np.zeros(100)),
        ["predict", "{ck}", "x.npy"],
        1,
        ["x.npy", "100 samples is shorter than one window of 256"],
    ),
    (
        "explain-shorter-than-a-window",
        npy("x.npy", np.zeros(100)),
        ["explain", "{ck}", "x.npy"],
        1,
        ["x.npy", "shorter than one window of 256"],
    ),
    (
        "describe-recording-too-short-to-split",
        manifest("x.npy,a,1000\n", npy("x.npy")),
        DESCRIBE_MANIFEST + ["--window", "256"],
        1,
        ["x.npy", "too short", "needs at least"],
    ),
    ("predict-one-sample", npy("x.npy", np.zeros(1)), ["predict", "{ck}", "x.npy"], 1, ["x.npy", "empty signal"]),
    # wrong channel count or sampling rate for the model
    (
        "predict-two-channels",
        npy("x.npy", np.zeros((2, 900))),
        ["predict", "{ck}", "x.npy"],
        1,
        ["x.npy", "2 channel(s); the model expects 1"],
    ),
    (
        "explain-two-channels",
        npy("x.npy", np.zeros((2, 900))),
        ["explain", "{ck}", "x.npy"],
        1,
        ["x.npy", "the model expects 1"],
    ),
    (
        "predict-fs-contradicts-file",
        record("r"),
        ["predict", "{ck}", "r", "--fs", "360"],
        1,
        ["r", "--fs 360 Hz contradicts the file's 12000 Hz"],
    ),
    # unknown block, dataset, lead, label, config key
    ("train-unknown-block", nothing, ["train", "--block", "transformer"], 1, ["model.block", "one of", "transformer"]),
    (
        "run-unknown-block-in-grid",
        pipeline({"name": "p", "base": {}, "grid": {"model.block": ["se", "transformer"]}}),
        ["run", "p.yaml"],
        1,
        ["p.yaml", "model.block must be one of", "'transformer'"],
    ),
    ("train-unknown-dataset", nothing, ["train", "--dataset", "imagenet"], 1, ["data.dataset must be one of"]),
    ("describe-unknown-dataset", nothing, ["data", "describe", "imagenet"], 2, ["'imagenet' is not one of"]),
    (
        "train-unknown-lead",
        record("101", fs=360, n=2000, leads=("V5",), where="mitdb"),
        ["train", "--dataset", "mitdb", "--data-dir", ".", "--set", "data.lead=V9"],
        1,
        ["101.hea", "no lead 'V9'", "it has: V5"],
    ),
    (
        "train-unknown-label-scheme",
        folder("cwru"),
        ["train", "--dataset", "cwru", "--data-dir", ".", "--set", "data.scheme=5class"],
        1,
        ["'5class' (data.scheme)", "expected one of: 10class, 4class"],
    ),
    ("describe-unknown-label-scheme", nothing, ["data", "describe", "cwru", "--scheme", "5class"], 2, ["--scheme"]),
    (
        "explain-unknown-class",
        npy("x.npy"),
        ["explain", "{ck}", "x.npy", "--class", "XX"],
        1,
        ["--class 'XX'", "expected one of"],
    ),
    (
        "eval-data-with-other-labels",
        manifest("a.npy,a,12000\nb.npy,b,12000\n", npy("a.npy", LONG), npy("b.npy", LONG)),
        ["eval", "{ck}", "--set", "data.dataset=manifest", "--set", "data.manifest=m.csv"],
        1,
        ["classes ['a', 'b']", "the model predicts"],
    ),
    ("train-unknown-config-key", nothing, ["train", "--set", "train.epochz=3"], 1, ["unknown config key train.epochz"]),
    (
        "train-unknown-config-section",
        text("c.yaml", "trian: {epochs: 3}\n"),
        ["train", "c.yaml"],
        1,
        ["unknown config key config.trian", "allowed"],
    ),
    (
        "train-split-fractions-not-a-list",
        nothing,
        ["train", "--set", "data.split.fractions=5"],
        1,
        ["data.split.fractions must be three positive numbers (train, val, test); got 5"],
    ),
    (
        "config-schema-out-in-missing-folder",
        nothing,
        ["config", "schema", "--out", "nodir/s.json"],
        1,
        ["nodir/s.json", "folder nodir does not exist", "expected an existing folder"],
    ),
    ("eval-unknown-config-key", nothing, ["eval", "{ck}", "--set", "data.windw=3"], 1, ["unknown config key data."]),
    (
        "run-unknown-pipeline-key",
        pipeline({"name": "p", "base": {}, "stages": 3}),
        ["run", "p.yaml"],
        1,
        ["p.yaml", "unknown key 'stages'", "allowed"],
    ),
    (
        "train-model-that-cannot-be-built",
        nothing,
        [
            "train",
            "--set",
            "data.synthetic.n_per_class=2",
            "--set",
            "data.synthetic.seconds=0.5",
            "--set",
            "data.window.length=256",
            "--set",
            "model.widths=[4,4]",
        ],
        1,
        ["model (backbone cnn, widths [4, 4]", "kernels", "2 stages"],
    ),
    ("train-malformed-override", nothing, ["train", "--set", "epochs"], 1, ["'epochs'", "section.key=value"]),
    ("eval-unknown-split", nothing, ["eval", "{ck}", "--split", "holdout"], 2, ["--split", "'holdout'"]),
    # negative or zero sizes and rates
    ("train-zero-epochs", nothing, ["train", "--epochs", "0"], 1, ["train.epochs must be a positive integer; got 0"]),
    ("train-negative-epochs", nothing, ["train", "--epochs", "-1"], 1, ["train.epochs must be a positive integer"]),
    ("train-zero-batch", nothing, ["train", "--set", "train.batch_size=0"], 1, ["train.batch_size", "got 0"]),
    ("train-negative-lr", nothing, ["train", "--set", "train.lr=-0.1"], 1, ["train.lr must be a number in"]),
    ("train-negative-fs", nothing, ["train", "--set", "data.synthetic.fs=-1"], 1, ["data.synthetic.fs", "positive"]),
    (
        "train-spectrum-above-nyquist",
        nothing,
        ["train", "--set", "data.transforms=[{name: spectrum, max_hz: 9000}]"],
        1,
        ["transform 'spectrum' option 'max_hz' must be below fs/2", "got 9000"],
    ),
    (
        "train-head-pooled-zero",
        nothing,
        ["train", "--set", "model.options={head_pooled: 0}"],
        1,
        ["model (backbone cnn", "head_pooled must be an integer >= 1; got 0"],
    ),
    # bearing options of `data signature`
    ("signature-manifest-without-rpm", SIGNATURE_INPUT, SIGNATURE, 1, ["x.npy", "no shaft speed", "pass --rpm"]),
    ("signature-text-band", SIGNATURE_INPUT, SIGNATURE + ["--band", "2k-4k"], 1, ["--band", "LOW-HIGH", "'2k-4k'"]),
    ("signature-reversed-band", SIGNATURE_INPUT, SIGNATURE + ["--band", "4000-2000"], 1, ["--band", "0 < LOW < HIGH"]),
    (
        "signature-band-above-nyquist",
        SIGNATURE_INPUT,
        SIGNATURE + ["--rpm", "1500", "--band", "6000-9000"],
        1,
        ["x.npy: no envelope band (6000-9000 Hz) lies below 5820 Hz"],
    ),
    (
        "signature-short-bearing",
        SIGNATURE_INPUT,
        SIGNATURE + ["--bearing", "9,0.3"],
        1,
        ["--bearing", "BALLS,BALL_DIAMETER,PITCH_DIAMETER,CONTACT_ANGLE_DEG", "'9,0.3'"],
    ),
    (
        "signature-impossible-bearing",
        SIGNATURE_INPUT,
        SIGNATURE + ["--bearing", "9,2,1,0"],
        1,
        ["--bearing 9,2,1,0: bearing geometry", "0 < ball_diameter < pitch_diameter"],
    ),
    (
        "signature-missing-channel",
        SIGNATURE_INPUT,
        SIGNATURE + ["--rpm", "1500", "--channel", "1"],
        1,
        ["x.npy", "--channel 1", "has 1 channel(s); expected 0-0"],
    ),
    ("describe-zero-window", nothing, ["data", "describe", "synthetic", "--window", "0"], 1, ["window.length"]),
    ("describe-negative-stride", nothing, ["data", "describe", "synthetic", "--stride", "-5"], 1, ["window.stride"]),
    ("eval-negative-window", nothing, ["eval", "{ck}", "--set", "data.window.length=-4"], 1, ["data.window.length"]),
    (
        "describe-zero-fs-in-manifest",
        manifest("x.npy,a,0\n", npy("x.npy")),
        DESCRIBE_MANIFEST,
        1,
        ["m.csv line 2", "fs must be a positive number of Hz; got 0.0"],
    ),
    ("predict-zero-fs", nothing, ["predict", "{ck}", "x.npy", "--fs", "0"], 2, ["--fs", "expected a positive rate"]),
    ("predict-negative-fs", nothing, ["predict", "{ck}", "x.npy", "--fs", "-3"], 2, ["--fs", "positive rate"]),
    ("predict-nan-fs", nothing, ["predict", "{ck}", "x.npy", "--fs", "nan"], 2, ["--fs", "positive rate"]),
    ("explain-zero-limit", nothing, ["explain", "{ck}", "--limit", "0"], 2, ["--limit", "positive integer; got 0"]),
    ("run-zero-jobs", nothing, ["run", "p.yaml", "--jobs", "0"], 2, ["--jobs", "a positive integer or auto; got '0'"]),
    ("blocks-negative-length", nothing, ["blocks", "--length", "-8"], 2, ["--length", "positive integer"]),
    # a folder with mixed files
    (
        "predict-folder-without-signals",
        both(text("in/a.txt", "x"), text("in/b.json", "{}")),
        ["predict", "{ck}", "in"],
        1,
        ["in", "no signal files", "expected .csv, .npy, .mat, .hea"],
    ),
    ("predict-empty-folder", folder("in"), ["predict", "{ck}", "in"], 1, ["in", "no signal files"]),
    (
        "predict-folder-with-one-bad-file",
        both(folder("in"), npy("in/a.npy"), text("in/b.csv", "1\nzz\n"), text("in/c.txt", "notes")),
        ["predict", "{ck}", "in", "--out", "p.csv"],
        1,
        ["b.csv line 2", "expected numbers"],
    ),
    (
        "explain-folder-with-one-bad-file",
        both(folder("in"), npy("in/a.npy"), text("in/b.npy", b"\x93NUMPY junk")),
        ["explain", "{ck}", "in", "--out", "ex"],
        1,
        ["b.npy", "not a readable .npy"],
    ),
    # output paths that cannot be written
    (
        "predict-out-in-missing-folder",
        npy("x.npy"),
        ["predict", "{ck}", "x.npy", "--out", "nodir/p.csv"],
        1,
        ["nodir/p.csv", "folder nodir does not exist", "expected an existing folder"],
    ),
    (
        "predict-out-under-a-file",
        both(npy("x.npy"), text("f", "x")),
        ["predict", "{ck}", "x.npy", "--out", "f/p.csv"],
        1,
        ["f/p.csv", "is a file"],
    ),
    (
        "predict-out-is-a-folder",
        both(npy("x.npy"), folder("o")),
        ["predict", "{ck}", "x.npy", "--out", "o"],
        1,
        ["o: is a folder", "expected a file name"],
    ),
    (
        "explain-out-under-a-file",
        both(npy("x.npy"), text("f", "x")),
        ["explain", "{ck}", "x.npy", "--out", "f/ex"],
        1,
        ["--out f/ex", "f is a file", "expected a folder"],
    ),
    (
        "train-checkpoint-dir-under-a-file",
        text("f", "x"),
        ["train", "--set", "train.checkpoint_dir=f/ck"],
        1,
        ["train.checkpoint_dir f/ck", "f is a file", "expected a folder"],
    ),
    (
        "run-out-under-a-file",
        both(text("f", "x"), pipeline({"name": "p", "base": {}})),
        ["run", "p.yaml", "--out", "f/res"],
        1,
        ["--out f/res", "f is a file"],
    ),
]


@pytest.mark.parametrize(("setup", "args", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_in_one_line_and_leaves_nothing(work, ckpt, setup, args, code, words):
    setup(work)
    before = snapshot(work)
    result = runner.invoke(app, [a.replace("{ck}", str(ckpt)) for a in args])
    check_failure(result, code, words)
    assert snapshot(work) == before, "the command left files behind"


# ---- unreadable and unwritable paths ------------------------------------------------------------


@pytest.fixture
def deny_read(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make a file unreadable: mode 000, or for root (which ignores modes) an open() that refuses it."""
    denied: set[str] = set()
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) in denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
        return real_open(file, *args, **kwargs)

    if ROOT:
        monkeypatch.setattr(builtins, "open", guarded)
        monkeypatch.setattr(io, "open", guarded)

    def deny(path: Path) -> None:
        if ROOT:
            denied.add(os.path.abspath(path))
        else:
            path.chmod(0)

    return deny


@pytest.mark.parametrize(
    ("name", "make", "args", "words"),
    [
        ("c.yaml", text("c.yaml", "train: {epochs: 1}\n"), ["train", "c.yaml"], ["c.yaml", "ermission denied"]),
        ("p.yaml", pipeline({"name": "p", "base": {}}), ["run", "p.yaml"], ["p.yaml", "ermission denied"]),
        ("x.npy", npy("x.npy"), ["predict", "{ck}", "x.npy"], ["x.npy", "cannot read", "expected a readable file"]),
        ("x.csv", text("x.csv", "1\n2\n"), ["predict", "{ck}", "x.csv"], ["x.csv", "cannot read"]),
        ("x.mat", mat("x.mat"), ["explain", "{ck}", "x.mat"], ["x.mat", "cannot read"]),
        ("m.csv", manifest("x.npy,a,1\n", npy("x.npy")), DESCRIBE_MANIFEST, ["m.csv", "cannot read"]),
        ("c.pt", None, ["eval", "c.pt"], ["c.pt", "cannot read", "expected a readable file"]),
    ],
)
def test_unreadable_input_is_one_line(work, ckpt, deny_read, name, make, args, words):
    if make is None:
        (work / name).write_bytes(Path(ckpt).read_bytes())
    else:
        make(work)
    deny_read(work / name)
    result = runner.invoke(app, [a.replace("{ck}", str(ckpt)) for a in args])
    check_failure(result, 1, words)


@pytest.mark.skipif(ROOT, reason="root writes through mode 0o500; see the simulated test below")
@pytest.mark.parametrize(
    "args",
    [
        ["predict", "{ck}", "x.npy", "--out", "ro/p.csv"],
        ["explain", "{ck}", "x.npy", "--out", "ro/ex"],
        ["train", "--set", "train.checkpoint_dir=ro/ck"],
    ],
)
def test_unwritable_output_folder_is_one_line(work, ckpt, args):
    npy("x.npy")(work)
    (work / "ro").mkdir(mode=0o500)
    try:
        result = runner.invoke(app, [a.replace("{ck}", str(ckpt)) for a in args])
        check_failure(result, 1, ["ro"])
        assert list((work / "ro").iterdir()) == []
    finally:
        (work / "ro").chmod(0o700)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["predict", "{ck}", "x.npy", "--out", "ro/p.csv"], ["ro/p.csv", "Permission denied", "writable folder"]),
        (["explain", "{ck}", "x.npy", "--out", "ro/ex"], ["--out ro/ex", "cannot write in ro"]),
        (["train", "--set", "train.checkpoint_dir=ro/ck"], ["train.checkpoint_dir ro/ck", "cannot write in ro"]),
        (["run", "p.yaml", "--out", "ro/res"], ["--out ro/res", "cannot write in ro"]),
    ],
)
def test_permission_denied_on_output_is_one_line_for_any_user(work, ckpt, monkeypatch, args, words):
    """The unwritable-folder case with the refusal simulated, so it also runs as root."""
    npy("x.npy")(work)
    pipeline({"name": "p", "base": {}})(work)
    (work / "ro").mkdir()
    real_access, real_open = os.access, os.open

    def access(path, mode, *a, **k):
        return False if Path(path).resolve() == (work / "ro").resolve() else real_access(path, mode, *a, **k)

    def open_file(path, flags, *a, **k):  # a new file in ro/ is refused, as for a user without write access
        if flags & os.O_CREAT and Path(path).resolve().parent == (work / "ro").resolve():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "open", open_file)
    result = runner.invoke(app, [a.replace("{ck}", str(ckpt)) for a in args])
    check_failure(result, 1, words)
    assert list((work / "ro").iterdir()) == []


# ---- disk full ----------------------------------------------------------------------------------


class HalfThenFull:
    """A file that takes half of the first write, then fails like a full disk."""

    def __init__(self, f) -> None:
        self.f = f

    def write(self, data: bytes) -> int:
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self) -> HalfThenFull:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()


def fill_disk_after(monkeypatch: pytest.MonkeyPatch, good_writes: int) -> None:
    """Let `good_writes` atomic writes succeed, then every later one hits a full disk."""
    real_fdopen = os.fdopen
    calls = []

    def fdopen(fd, *args, **kwargs):
        calls.append(fd)
        f = real_fdopen(fd, *args, **kwargs)
        return f if len(calls) <= good_writes else HalfThenFull(f)

    monkeypatch.setattr(os, "fdopen", fdopen)


def test_disk_full_while_writing_predictions_leaves_no_file(work, ckpt, monkeypatch):
    npy("x.npy")(work)
    (work / "p.csv").write_text("old predictions\n")
    fill_disk_after(monkeypatch, 0)
    result = runner.invoke(app, ["predict", str(ckpt), "x.npy", "--out", "p.csv"])
    check_failure(result, 1, ["p.csv", "No space left on device", "nothing was written"])
    assert sorted(p.name for p in work.iterdir()) == ["p.csv", "x.npy"]
    assert (work / "p.csv").read_text() == "old predictions\n"


def test_disk_full_while_explaining_leaves_no_folder(work, ckpt, monkeypatch):
    npy("x.npy", np.random.default_rng(2).standard_normal(700))(work)
    fill_disk_after(monkeypatch, 1)  # the first overlay PNG is written, the second fails
    result = runner.invoke(app, ["explain", str(ckpt), "x.npy", "--out", "deep/ex", "--limit", "2"])
    check_failure(result, 1, ["deep/ex/", ".png", "No space left on device"])
    assert sorted(p.name for p in work.iterdir()) == ["x.npy"], "no partial folder, no temporary folder"


LINEAR_META = ModelMeta(model={"backbone": "cnn"}, in_channels=2, classes=("a", "b"), fs=1.0, window_length=8,
                        window_stride=8, transforms=(), dataset="synthetic")  # fmt: skip


def test_disk_full_while_saving_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    model = torch.nn.Linear(2, 2)
    path = save_checkpoint(tmp_path / "last.pt", model=model, meta=LINEAR_META, epoch=1)
    before = path.read_bytes()

    def full_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_save)
    with pytest.raises(SigattnError, match=r"last\.pt: could not write \(No space left on device\); the previous"):
        save_checkpoint(path, model=model, meta=LINEAR_META, epoch=2)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1


def test_checkpoint_folder_that_cannot_be_made_is_a_sigattn_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(SigattnError, match=r"cannot write in .*f/ck .*expected a writable folder"):
        save_checkpoint(tmp_path / "f" / "ck" / "last.pt", model=torch.nn.Linear(1, 1), meta=LINEAR_META)


# ---- untrusted checkpoints ----------------------------------------------------------------------


class Payload:
    """Unpickling this creates `marker`: proof that the pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_predict_refuses_a_checkpoint_with_a_pickled_payload(work):
    marker = work.parent / "pwned"
    torch.save({"state_dict": {}, "meta": Payload(marker)}, work / "evil.pt")
    npy("x.npy")(work)
    result = runner.invoke(app, ["predict", "evil.pt", "x.npy"])
    check_failure(result, 1, ["evil.pt", "refused", "pickled objects", "GLOBAL"])
    assert not marker.exists()


# ---- unexpected errors and --debug --------------------------------------------------------------


def test_a_value_error_that_is_not_a_sigattn_error_is_a_bug_and_keeps_its_traceback(work, ckpt, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr("sigattn.evaluate.files.predict_files", broken)
    npy("x.npy")(work)
    result = runner.invoke(app, ["predict", str(ckpt), "x.npy"])
    assert type(result.exception) is ValueError and "Error:" not in result.output, result.output


def test_os_error_names_the_file_and_the_expectation(work, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "cache/x.npz")

    monkeypatch.setattr("sigattn.data.prepare.describe", full)
    result = runner.invoke(app, ["data", "describe", "synthetic"])
    check_failure(result, 1, ["cache/x.npz: No space left on device; free some space"])


def test_debug_raises_with_the_traceback(work, ckpt):
    args = ["predict", str(ckpt), "x.npy"]
    quiet = runner.invoke(app, args)
    check_failure(quiet, 1, ["x.npy"])
    loud = runner.invoke(app, ["--debug", *args])
    assert loud.exit_code == 1 and isinstance(loud.exception, SigattnError)
    assert "x.npy" in str(loud.exception) and loud.exc_info[2] is not None


def test_real_stderr_is_one_line_without_and_a_traceback_with_debug(work):
    command = [sys.executable, "-m", "sigattn", "data", "describe", "manifest", "--manifest", "m.csv"]
    env = {**os.environ, "COLUMNS": "100"}
    plain = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.splitlines() == [plain.stderr.strip()] and "m.csv not found" in plain.stderr
    assert "Traceback" not in plain.stderr
    command = [*command[:3], "--debug", *command[3:]]
    debug = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "SigattnError" in debug.stderr
    assert snapshot(work) == set()


def test_atomic_writes_get_the_usual_file_mode(tmp_path: Path):
    from sigattn.outputs import write_atomically

    umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "summary.md", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "summary.md").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["train", "--epochs", "x"], ["'--epochs'", "valid integer"]),
        (["trian"], ["No such command 'trian'"]),
        (["run", "--jobs", "0", "p.yaml"], ["'--jobs'", "positive integer"]),
    ],
)
def test_usage_errors_are_one_line_from_the_sigattn_command(work, capsys, args: list[str], words: list[str]):
    from sigattn.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["sigattn", *args])
        with pytest.raises(SystemExit) as done:
            main()
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert done.value.code == 2 and out.out == "" and len(lines) == 1, out
    assert lines[0].startswith("Error: ") and all(w in lines[0] for w in words), lines


def test_usage_error_on_real_stderr_is_one_line_and_version_works(work):
    env = {**os.environ, "COLUMNS": "100"}
    bad = subprocess.run(
        [sys.executable, "-m", "sigattn", "train", "--epochs", "x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "Error: Invalid value for '--epochs': Input should be a valid integer, unable to parse string as an integer"
    ]
    version = subprocess.run(
        [sys.executable, "-m", "sigattn", "--version"], capture_output=True, text=True, env=env, timeout=120
    )
    assert version.returncode == 0 and version.stdout.strip() == "0.1.0"
