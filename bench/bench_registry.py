"""Registry look-ups at scale: find by label among 10,000 records, and status of 200 live services.

Why: a CLI ``outlive ls``, an Airflow sensor and a Prefect flow all ask the
registry; with many services these calls must stay interactive.
Targets: ``find`` by label among 10,000 records <= 5 ms median; P6: ``find_services()``
(status observed now) of 200 live services <= 1.5x the hand check below (wall medians,
same run; the earlier absolute 150 ms is printed for information); and a fleet curve.

Method, part 1 (10,000 records, nothing running): the records are real
``CommandService`` objects, inserted through a BULK path, not ``save()``: the
rows come from the registry's own ``_row_of`` and go in with one executemany
per table in a single transaction (``save()`` would take ~10,000 transactions
and minutes, and it is not what is measured). Each record has a unique label
``rid`` and a shared label ``team`` (100 records per team). We time
``ServiceRegistry.find(labels={"rid": ...})`` (1 hit) over random ids, and
``find(labels={"team": ...})`` (100 hits) for information. Baseline: the same
label query in raw ``sqlite3`` (a kept-open connection, rows fetched, no
objects built), interleaved with ours.

Part 2 (200 live services, in a second temporary ``OUTLIVE_HOME``): 200
``CommandService`` instances of a tiny stdlib HTTP server (a raw-socket loop
under ``python -S``, a few MB each), started one after the other with
``start()``. We time ``find_services()`` (registry read + every service's
process identity and HTTP health observed, in its thread pool, and changed
statuses saved). Baseline: the same 200 checks done by hand with the same
pool size (16): ``os.kill(pid, 0)`` plus a fresh-connection GET, no registry.
Trials interleave. CPU time of this process is printed beside the wall times.

Part 3, the fleet curve (a third ``OUTLIVE_HOME``): N = 10, 100, 1000 registry rows, of
which min(N, ``--fleet-live-cap``) are live tiny servers (started stage by stage) and the
rest bulk-inserted records of services that are not running; at each N, medians of
``find_services()`` and of the hand check of the live ones. All services are stopped at
the end, also on error. A fully live 1000 needs ``--fleet-live-cap 1000`` (~8 GB, minutes).

    .venv/bin/python bench/bench_registry.py [--records 10000] [--live 200] [--trials 15]
        [--fleet 10,100,1000] [--fleet-live-cap 200]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import figure

FIND_TARGET_MS = 5.0
STATUS_TARGET_MS = 150.0  # the first figure, now informational
STATUS_TARGET_RATIO = 1.5
POOL = 16

TINY_SERVER = """\
import socket, sys
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(64)
while True:
    conn, _ = listener.accept()
    try:
        conn.settimeout(1.0)
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    except OSError:
        pass
    finally:
        conn.close()
"""

LABEL_SQL = (
    "SELECT * FROM outlive_services WHERE uuid IN (SELECT uuid FROM outlive_service_labels "
    "WHERE key = ? AND value = ?) ORDER BY created_at"
)


def interleave(
    trials: int, base: Callable[[], float], ours: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Run both sides ``trials`` times, flipping the order each trial; seconds per call."""
    b: list[float] = []
    o: list[float] = []
    for index in range(trials):
        pair = [(base, b), (ours, o)]
        for func, sink in pair if index % 2 == 0 else reversed(pair):
            sink.append(func())
    return b, o


def timed(func: Callable[[], Any]) -> float:
    """Seconds one call of ``func`` takes."""
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def line(label: str, values: list[float]) -> float:
    """Print and return the median (ms) with min and p90."""
    ms = sorted(v * 1000 for v in values)
    med = statistics.median(ms)
    print(
        f"  {label:52s} median {med:8.2f} ms  min {ms[0]:8.2f}  p90 {ms[int(0.9 * (len(ms) - 1))]:8.2f}"
    )
    return med


# -- part 1: find by label among many records ---------------------------------------------------


def bulk_insert(count: int, prefix: str = "rec-") -> float:
    """Insert ``count`` CommandService records in one transaction; return the seconds taken."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert

    from plugin_core import CommandService, ServiceRegistry
    from plugin_core.registry.schema import service_labels, services
    from plugin_core.registry.store import _row_of

    t0 = time.perf_counter()
    rows, labels = [], []
    start = datetime.now(timezone.utc)
    for i in range(count):
        service = CommandService.http(
            f"{prefix}{i}",
            ["python", "-m", "http.server", "{port}"],
            labels={"rid": str(i), "team": f"team-{i % 100}"},
            pipeline_name="bench",
        )
        row = _row_of(service)
        stamp = start + timedelta(microseconds=i)
        rows.append({**row, "created_at": stamp, "updated_at": stamp, "version": 1})
        labels += [
            {"uuid": row["uuid"], "key": k, "value": v}
            for k, v in service.config.get_service_labels().items()
        ]
    with ServiceRegistry().engine.begin() as conn:
        conn.execute(insert(services), rows)
        conn.execute(insert(service_labels), labels)
    return time.perf_counter() - t0


def find_part(records: int, trials: int) -> bool:
    """Part 1: build the records, then time find-by-label against raw sqlite3."""
    from plugin_core import ServiceRegistry

    print(f"part 1: find by label among {records} records")
    print(
        f"  bulk insert (one transaction, executemany, rows from _row_of): {bulk_insert(records):.1f} s"
    )
    registry = ServiceRegistry()
    db = sqlite3.connect(registry.url.split("///", 1)[1])
    rng = random.Random(7)
    hits: list[int] = []

    def ours() -> float:
        rid = str(rng.randrange(records))
        t0 = time.perf_counter()
        hits.append(len(registry.find(labels={"rid": rid})))
        return time.perf_counter() - t0

    def base() -> float:
        rid = str(rng.randrange(records))
        return timed(lambda: db.execute(LABEL_SQL, ("rid", rid)).fetchall())

    for _ in range(5):  # warm the engine's pool, SQLite's page cache and statement caches
        ours()
        base()
    b, o = interleave(trials, base, ours)
    assert set(hits) == {1}, f"expected one hit per unique label, got {set(hits)}"
    b_med = line("baseline raw sqlite3 label query (1 hit)", b)
    o_med = line("ours ServiceRegistry.find(labels={rid}) (1 hit)", o)
    print(f"  ratio ours/baseline: {o_med / b_med:.1f}x   target: ours <= {FIND_TARGET_MS:g} ms")
    figure("find", f"find by label among {records} records", f"{o_med:.2f} ms median",
           f"<= {FIND_TARGET_MS:g} ms", o_med <= FIND_TARGET_MS)
    team = [
        timed(lambda: registry.find(labels={"team": "team-7"})) for _ in range(max(5, trials // 4))
    ]
    line("info: find(labels={team}) (100 hits)", team)
    db.close()
    return o_med <= FIND_TARGET_MS


# -- part 2: status of many live services --------------------------------------------------------


def start_live(count: int, script: Path, first: int = 0) -> list[Any]:
    """Start ``count`` tiny HTTP servers as CommandServices (named from ``live-{first}``)."""
    from plugin_core import CommandService

    started = []
    t0 = time.perf_counter()
    for i in range(first, first + count):
        service = CommandService.http(
            f"live-{i}", [sys.executable, "-S", str(script), "{port}"], labels={"bench": "live"}
        )
        service.start(timeout=30)
        started.append(service)
    print(f"  started {count} services in {time.perf_counter() - t0:.1f} s")
    return started


def hand_check(targets: list[tuple[int, int]]) -> None:
    """The baseline: pid alive plus a fresh GET, for every service, in a pool of 16."""

    def one(target: tuple[int, int]) -> bool:
        pid, port = target
        os.kill(pid, 0)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            return conn.getresponse().status == 200
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=POOL) as pool:
        assert all(pool.map(one, targets))


def status_trials(trials: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]], int]:
    """Interleaved (wall s, CPU s) of ``find_services()`` and of the hand check over the live
    services of the current registry; returns (baseline, ours, live count)."""
    from plugin_core import ServiceState, find_services

    live = [s for s in find_services(refresh=False) if s.status.pid is not None]
    targets = [(s.status.pid, s.endpoint.status.port) for s in live]
    states: list[int] = []

    def ours() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        found = find_services()
        elapsed = time.perf_counter() - t0, time.process_time() - c0
        states.append(sum(s.status.state == ServiceState.ACTIVE for s in found))
        return elapsed

    def base() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        hand_check(targets)
        return time.perf_counter() - t0, time.process_time() - c0

    ours()  # warm-up
    base()
    b: list[tuple[float, float]] = []
    o: list[tuple[float, float]] = []
    for index in range(trials):
        pair = [(base, b), (ours, o)]
        for func, sink in pair if index % 2 == 0 else reversed(pair):
            sink.append(func())
    assert set(states) == {len(live)}, f"expected {len(live)} ACTIVE each time, got {set(states)}"
    return b, o, len(live)


def status_part(live: int, trials: int, workdir: Path) -> bool:
    """Part 2: time find_services() over ``live`` running services vs a hand check (P6)."""
    from plugin_core import find_services

    print(f"part 2: status of {live} live services")
    script = workdir / "tiny_server.py"
    script.write_text(TINY_SERVER)
    start_live(live, script)
    b, o, _ = status_trials(trials)
    b_med = line(f"baseline hand check (pid + GET, pool {POOL})", [w for w, _ in b])
    o_med = line("ours find_services() (refresh, all ACTIVE)", [w for w, _ in o])
    b_cpu = statistics.median(c for _, c in b) * 1000
    o_cpu = statistics.median(c for _, c in o) * 1000
    print(f"  cpu (this process): baseline median {b_cpu:.1f} ms, ours median {o_cpu:.1f} ms")
    no_refresh = [timed(lambda: find_services(refresh=False)) for _ in range(max(5, trials // 3))]
    line("info: find_services(refresh=False) (registry read only)", no_refresh)
    ratio = o_med / b_med
    print(
        f"  ratio ours/baseline: wall {ratio:.2f}x  cpu {o_cpu / b_cpu:.2f}x   "
        f"target (P6): wall <= {STATUS_TARGET_RATIO:g}x   info: ours <= {STATUS_TARGET_MS:g} ms "
        f"{'yes' if o_med <= STATUS_TARGET_MS else 'no'}"
    )
    figure("P6", f"status of {live} live / hand check (pool {POOL})",
           f"{ratio:.2f}x wall, {o_cpu / b_cpu:.2f}x cpu; {o_med:.0f} vs {b_med:.0f} ms",
           f"<= {STATUS_TARGET_RATIO:g}x", ratio <= STATUS_TARGET_RATIO)
    return ratio <= STATUS_TARGET_RATIO


def fleet_curve(sizes: list[int], live_cap: int, trials: int, workdir: Path) -> None:
    """The fleet curve: status of N registry rows, of which min(N, live_cap) are live services
    (started here, the rest bulk-inserted records of services that are not running)."""
    print(f"fleet curve: registry rows N, live services min(N, {live_cap}); medians of {trials}")
    print(f"  {'rows':>6} {'live':>5} {'ours wall':>10} {'ours cpu':>9} {'hand wall':>10} {'ratio':>6}")
    script = workdir / "tiny_server.py"
    script.write_text(TINY_SERVER)
    live = rows = 0
    for size in sorted(sizes):
        want_live = min(size, live_cap)
        if want_live > live:
            start_live(want_live - live, script, first=live)
            live = rows = want_live
        if size > rows:
            bulk_insert(size - rows, prefix=f"idle{rows}-")
            rows = size
        b, o, counted = status_trials(trials)
        med = statistics.median
        ow, oc, bw = (med(w for w, _ in o), med(c for _, c in o), med(w for w, _ in b))
        print(
            f"  {rows:6d} {counted:5d} {ow * 1000:8.1f}ms {oc * 1000:7.1f}ms {bw * 1000:8.1f}ms "
            f"{ow / bw:5.2f}x"
        )
        figure("P6 curve", f"status of {rows} rows ({counted} live)",
               f"{ow * 1000:.0f} ms wall, {oc * 1000:.0f} ms cpu; {ow / bw:.2f}x hand", "printed", True)


def stop_everything() -> None:
    """Stop every service in the current registry, forcefully; never raise."""
    try:
        from plugin_core import find_services, stop_service

        for service in find_services(refresh=False):
            try:
                stop_service(service, force=True)
            except Exception as exc:
                print(f"  cleanup: could not stop {service.config.service_name}: {exc}")
    except Exception as exc:
        print(f"  cleanup failed: {exc}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--live", type=int, default=200)
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--find-trials", type=int, default=200)
    parser.add_argument("--fleet", default="10,100,1000", help="fleet curve sizes ('' skips it)")
    parser.add_argument("--fleet-live-cap", type=int, default=200, help="live services at most")
    parser.add_argument("--fleet-trials", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="outlive-bench-") as tmp:
        os.environ["OUTLIVE_HOME"] = str(Path(tmp) / "records")
        find_ok = find_part(args.records, args.find_trials)
        os.environ["OUTLIVE_HOME"] = str(Path(tmp) / "live")
        try:
            status_ok = status_part(args.live, args.trials, Path(tmp))
        finally:
            t0 = time.perf_counter()
            stop_everything()
            print(f"  stopped all services in {time.perf_counter() - t0:.1f} s")
        if args.fleet:
            os.environ["OUTLIVE_HOME"] = str(Path(tmp) / "fleet")
            try:
                sizes = [int(size) for size in args.fleet.split(",")]
                fleet_curve(sizes, args.fleet_live_cap, args.fleet_trials, Path(tmp))
            finally:
                stop_everything()
    print("find by label:", "PASS" if find_ok else "FAIL")
    print(f"status of live services <= {STATUS_TARGET_RATIO:g}x the hand check:", "PASS" if status_ok else "FAIL")
    return 0 if find_ok and status_ok else 1


if __name__ == "__main__":
    sys.exit(main())
