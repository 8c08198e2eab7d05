"""The shortcuts of a status refresh give what the plain ways give.

A status query of hundreds of services (``find_services()``) takes three shortcuts: an HTTP
probe connects straight to an IP address (no resolver call) with its URL parsed once, a
status field is assigned only when its value changes, and whether a refresh is worth a
registry write is decided on the status's field values instead of two serialised documents.
Each is checked against the way it replaces: a probe by address against the same probe by
host name, on real sockets; the judgement of a model status against the same judgement of a
plain namespace (what ``outlive list`` judges); the field-value decision against the
document one (Hypothesis, fixed seed).
"""

from __future__ import annotations

import asyncio
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from plugin_core.backends.local import LocalDaemonServiceStatus
from plugin_core.hosts import this_host
from plugin_core.model.state import ServiceState
from plugin_core.observation import judge_probe, persisted_view, supervisor_record
from plugin_core.paths import read_small_file
from plugin_core.probes import aprobe_http, check_http
from plugin_core.registry.decoded import field_values
from tests.core.test_properties import SETTINGS as PROPERTY_SETTINGS

SETTINGS = settings(PROPERTY_SETTINGS, max_examples=200)


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 204 if self.path == "/empty" else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("path, accepted", [("/", {200}), ("/empty", {200}), ("/empty", {200, 204})])
def test_a_probe_by_address_judges_as_the_probe_by_host_name(
    server_port: int, path: str, accepted: set[int]
) -> None:
    by_address = check_http(
        f"http://127.0.0.1:{server_port}{path}", method="GET", accepted=accepted, timeout=2.0
    )
    by_name = check_http(
        f"http://localhost:{server_port}{path}", method="GET", accepted=accepted, timeout=2.0
    )
    assert by_address[0] == by_name[0] == (path == "/" or 204 in accepted)
    assert by_address[1] == by_name[1].replace("localhost", "127.0.0.1")


def test_a_refused_probe_reads_the_same_by_address_and_by_name() -> None:
    port = _free_port()
    by_address = check_http(f"http://127.0.0.1:{port}/", method="GET", accepted={200}, timeout=2.0)
    assert by_address == (False, f"GET http://127.0.0.1:{port}/: connection refused")
    by_name = check_http(f"http://localhost:{port}/", method="GET", accepted={200}, timeout=2.0)
    assert by_name[0] is False and "refused" in by_name[1]


@pytest.mark.parametrize("live", [True, False])
def test_the_async_probe_judges_as_the_sync_one(server_port: int, live: bool) -> None:
    port = server_port if live else _free_port()
    url = f"http://127.0.0.1:{port}/"
    sync = check_http(url, method="GET", accepted={200}, timeout=2.0)
    result = asyncio.run(aprobe_http(url, method="GET", accepted={200}, timeout=2.0))
    assert (result.ok, result.detail) == sync
    assert sync[0] is live


def test_an_ipv6_address_is_probed_directly() -> None:
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.fail("this test needs IPv6 loopback (::1); the CI machines have it")
    port = listener.getsockname()[1]
    seen: list[bytes] = []

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            seen.append(conn.recv(4096))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        ok, detail = check_http(f"http://[::1]:{port}/h", method="GET", accepted={200}, timeout=2.0)
    finally:
        thread.join(5)
        listener.close()
    assert (ok, detail) == (True, f"GET http://[::1]:{port}/h -> 200")
    assert seen[0].startswith(b"GET /h HTTP/1.1\r\nHost: [::1]:")


# -- the judgement of a model status and of a plain namespace ---------------------------------

PROBES = st.lists(st.tuples(st.booleans(), st.sampled_from(["ok", "refused", "timed out"])), max_size=12)


@SETTINGS
@given(PROBES, st.integers(1, 3), st.integers(1, 3), st.booleans())
def test_a_model_status_is_judged_as_a_plain_one(
    probes: list[tuple[bool, str]], success: int, failure: int, ready: bool
) -> None:
    """The model path (validated assignments, made only on a change) and the plain path give
    the same states and leave the same facts."""
    model = LocalDaemonServiceStatus(ready_once=ready, state=ServiceState.ACTIVE)
    model_endpoint = LocalDaemonServiceStatus()
    plain = SimpleNamespace(**vars(LocalDaemonServiceStatus(ready_once=ready, state=ServiceState.ACTIVE)))
    plain_endpoint = SimpleNamespace(**vars(LocalDaemonServiceStatus()))
    for ok, detail in probes:
        result = SimpleNamespace(ok=ok, detail=detail)
        assert judge_probe(model, model_endpoint, result, success, failure) == judge_probe(
            plain, plain_endpoint, result, success, failure
        )
        assert vars(model) == vars(plain)
        assert vars(model_endpoint) == vars(plain_endpoint)


# -- the write decision ---------------------------------------------------------------------

CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "state": st.sampled_from(list(ServiceState)),
        "last_state": st.sampled_from(list(ServiceState)),
        "last_error": st.sampled_from(["", "boom"]),
        "exit_code": st.none() | st.integers(0, 2),
        "last_probe": st.sampled_from(["", "GET / -> 200"]),
        "consecutive_failures": st.integers(0, 3),
        "consecutive_successes": st.integers(0, 3),
        "ready_once": st.booleans(),
        "owner_host": st.none() | st.just(this_host()),
        "runtime_path": st.none() | st.just("/tmp/x"),
        "supervisor_pid": st.none() | st.integers(1, 3),
        "child_pid": st.none() | st.integers(1, 3),
        "restarts": st.integers(0, 2),
    },
)


@SETTINGS
@given(CHANGES, CHANGES)
def test_the_write_decision_on_field_values_is_the_one_on_documents(
    before: dict[str, object], after: dict[str, object]
) -> None:
    status = LocalDaemonServiceStatus(**before)
    snapshot, document = field_values(status), status.to_dict()
    for name, value in after.items():
        setattr(status, name, value)
    by_values = persisted_view(field_values(status)) != persisted_view(snapshot)
    by_documents = persisted_view(status.to_dict()) != persisted_view(document)
    assert by_values == by_documents


# -- small files ----------------------------------------------------------------------------


def test_a_small_file_is_read_whole_and_a_missing_one_is_none(tmp_path: Path) -> None:
    big = os.urandom(65536 * 2 + 17)
    (tmp_path / "big").write_bytes(big)
    (tmp_path / "exact").write_bytes(big[:65536])
    assert read_small_file(str(tmp_path / "big")) == big
    assert read_small_file(str(tmp_path / "exact")) == big[:65536]
    assert read_small_file(str(tmp_path / "missing")) is None
    assert read_small_file(str(tmp_path)) is None  # a directory cannot be read


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"supervisor_pid": 7, "phase": "running"}', {"supervisor_pid": 7, "phase": "running"}),
        ('{"supervisor_pid": 8}', {}),  # another run's record
        ("[1, 2]", {}),
        ("{not json", {}),
        (b"\xff\xfe{", {}),
    ],
)
def test_a_supervisor_record_is_read_as_before(tmp_path: Path, text: str | bytes, expected: dict[str, object]) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert supervisor_record(str(tmp_path), 7) == expected
