"""Time cold and warm data preparation of MIT-BIH DS1+DS2 and the CWRU 10-class set.

Usage: SIGATTN_DATA_DIR=/path/to/data python benchmarks/data.py [--cores 2]

Cold = an empty cache directory (parse, filter, window, audit, write the cache); warm = the
same config again (load the cache, audit). Targets: MIT-BIH cold < 30 s on 2 cores, warm < 2 s.
Prints a table and writes benchmarks/results/data.json. Without SIGATTN_DATA_DIR it prints a
skip line and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys


def _limit_cores(cores: int) -> int:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(cores)  # before numpy is imported
    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, available[:cores])
        return len(available[:cores])
    return cores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="CPU cores to run on (default 2)")
    parser.add_argument("--out", default="benchmarks/results/data.json", help="JSON results file")
    args = parser.parse_args(argv)
    if not os.environ.get("SIGATTN_DATA_DIR"):
        print("skip: SIGATTN_DATA_DIR is not set; point it at a folder holding mitdb/ and cwru/")
        return 0
    cores = _limit_cores(args.cores)

    import json
    import tempfile
    import time
    from pathlib import Path

    from sigattn.config import DataConfig
    from sigattn.data.prepare import CACHE_ENV, prepare
    from sigattn.errors import SigattnError

    cases = {
        "mitdb DS1+DS2": (DataConfig(dataset="mitdb"), {"cold": 30.0, "warm": 2.0}),
        "cwru 10class": (DataConfig(dataset="cwru", scheme="10class"), {}),
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="sigattn-bench-") as tmp:
        for i, (name, (cfg, targets)) in enumerate(cases.items()):
            os.environ[CACHE_ENV] = str(Path(tmp) / str(i))  # empty: the first run is cold
            row: dict = {"case": name, "targets_s": targets}
            try:
                for phase in ("cold", "warm"):
                    start = time.perf_counter()
                    result = prepare(cfg)
                    row[f"{phase}_s"] = round(time.perf_counter() - start, 3)
                    row[f"{phase}_from_cache"] = result.from_cache
                summary = result.summary()
                row["windows"] = {s: sum(c.values()) for s, c in summary["windows"].items()}
                row["audit_ok"] = summary["audit"]["ok"]
                row["cache_mb"] = round(result.cache_path.stat().st_size / 2**20, 1)
                row["met"] = all(row[f"{k}_s"] < v for k, v in targets.items())
            except SigattnError as e:
                row["skipped"] = str(e)
            rows.append(row)

    print(f"{'case':<16} {'cold s':>8} {'warm s':>8} {'train':>8} {'val':>8} {'test':>8} {'MB':>7}  targets")
    for r in rows:
        if "skipped" in r:
            print(f"{r['case']:<16} skipped: {r['skipped']}")
            continue
        w = r["windows"]
        goal = ", ".join(f"{k}<{v:g}s" for k, v in r["targets_s"].items()) or "-"
        verdict = "" if not r["targets_s"] else (" met" if r["met"] else " MISSED")
        print(
            f"{r['case']:<16} {r['cold_s']:>8.2f} {r['warm_s']:>8.2f} {w['train']:>8} {w['val']:>8} "
            f"{w['test']:>8} {r['cache_mb']:>7}  {goal}{verdict}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(out.suffix + ".tmp")
    tmp_out.write_text(json.dumps({"cores": cores, "python": sys.version.split()[0], "results": rows}, indent=2))
    os.replace(tmp_out, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
