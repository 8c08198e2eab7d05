"""An HTTP service that is slow to become healthy, never does, or crashes (stdlib only).

    python flaky_server.py PORT [--ready-after S] [--ready-after-requests N] [--never-ready]
                                [--crash-after S --reason TEXT]

Until it is ready, every request gets 503 (the port is open but the service is not
healthy), which is the hard case for a sensor: "connection works" is not "ready". Ready means
S seconds after start and, with ``--ready-after-requests``, from the N-th request on: a
sensor's first poke then surely sees 503, however slowly a loaded machine runs the tasks.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--ready-after", type=float, default=0.0)
    parser.add_argument("--ready-after-requests", type=int, default=0)
    parser.add_argument("--never-ready", action="store_true")
    parser.add_argument("--crash-after", type=float, default=None)
    parser.add_argument("--reason", default="crashed")
    parser.add_argument("--exit-code", type=int, default=3)
    args = parser.parse_args()
    ready_at = time.monotonic() + args.ready_after
    requests = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                requests[0] += 1
                count = requests[0]
            ready = (
                not args.never_ready
                and time.monotonic() >= ready_at
                and count >= args.ready_after_requests
            )
            print(f"request {count}: {200 if ready else 503}", flush=True)
            self.send_response(200 if ready else 503)
            self.end_headers()
            self.wfile.write(b"ready" if ready else b"warming up")

        def log_message(self, format: str, *values: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening on {args.port}", flush=True)
    if args.crash_after is not None:
        time.sleep(args.crash_after)
        print(f"fatal: {args.reason}", file=sys.stderr, flush=True)
        sys.exit(args.exit_code)
    threading.Event().wait()


if __name__ == "__main__":
    main()
