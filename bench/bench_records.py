"""Decoding registry records: how much of a registry read is model validation.

Why: every ``find`` / ``list`` turns rows into typed service objects, and for many records
validation, not SQL, is where the time goes (issue 13: the ``type`` dispatch ran twice per
nested model). Target: decoding stays within 25x of the floor below (informational before
the single-pass dispatch; printed as a ratio either way).

Method: ``--records`` real ``CommandService.http`` records (config, status, endpoint with an
HTTP monitor: 7 typed models each) are saved with ``ServiceRegistry.save`` into a temporary
SQLite registry. Ours: ``ServiceRegistry.find()`` of all of them (SQL plus decoding). Floor:
the same rows fetched by raw ``sqlite3`` and their three JSON columns parsed with
``json.loads`` (the bytes a decoder must at least read), no objects built. A third line
decodes the same rows with ``BaseService.from_model`` without SQL, to isolate validation; a
fourth reads them cold (what this process decoded before forgotten, so every record is
validated: a one-off CLI read), for information, beside ours (a process reading again, which
gets copies of what it decoded: :mod:`plugin_core.registry.decoded`).
Trials interleave; medians, minimums and the ratio of medians are printed.

    .venv/bin/python bench/bench_records.py [--records 1000] [--trials 15]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RATIO_TARGET = 25.0


def median_ms(label: str, values: list[float]) -> float:
    """Print and return the median in ms, with the minimum."""
    ms = sorted(v * 1000 for v in values)
    med = statistics.median(ms)
    print(f"  {label:48s} median {med:8.2f} ms  min {ms[0]:8.2f}")
    return med


def timed(func: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="outlive-bench-records-") as tmp:
        os.environ["OUTLIVE_HOME"] = str(Path(tmp))
        from plugin_core import BaseService, CommandService, ServiceRegistry
        from plugin_core.registry.store import DECODED

        registry = ServiceRegistry()
        for i in range(args.records):
            registry.save(
                CommandService.http(f"rec-{i}", ["python", "-m", "http.server", "{port}"],
                                    health_path="/health", labels={"team": f"t{i % 10}"})
            )
        db = sqlite3.connect(Path(tmp) / "registry.db")
        records = registry.list_records()

        def floor() -> None:
            for config, status, endpoint in db.execute(
                "SELECT config, status, endpoint FROM outlive_services"
            ):
                json.loads(config), json.loads(status), json.loads(endpoint)

        def ours() -> None:
            assert len(registry.find()) == args.records

        def decode_only() -> None:
            for record in records:
                BaseService.from_model(record)

        def cold() -> float:
            """Seconds of a find() with nothing decoded before in this process (every record
            validated); then two untimed finds put back what ours() finds kept."""
            DECODED.clear()
            elapsed = timed(registry.find)
            registry.find(), registry.find()
            return elapsed

        for _ in range(2):
            floor(), ours(), decode_only()
        sides: dict[str, list[float]] = {"floor": [], "ours": [], "decode": [], "cold": []}
        funcs = {"floor": floor, "ours": ours, "decode": decode_only}
        for trial in range(args.trials):
            order = list(funcs) if trial % 2 == 0 else list(reversed(funcs))
            for key in order:
                sides[key].append(timed(funcs[key]))
            sides["cold"].append(cold())
        print(f"decode {args.records} CommandService records (load {os.getloadavg()[0]:.2f})")
        base = median_ms("floor: sqlite3 fetch + json.loads of 3 columns", sides["floor"])
        found = median_ms("ours: ServiceRegistry.find()", sides["ours"])
        median_ms("info: BaseService.from_model only (no SQL)", sides["decode"])
        cold_ms = median_ms("info: find() cold (nothing kept: all validated)", sides["cold"])
        ratio = found / base
        print(f"  ratio ours/floor: {ratio:.1f}x   target: <= {RATIO_TARGET:g}x   "
              f"(info: cold/floor {cold_ms / base:.1f}x)")
        db.close()
    return 0 if ratio <= RATIO_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
