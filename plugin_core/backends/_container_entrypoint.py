"""Container entrypoint: load a ContainerService from its JSON and call ``run()``.

The container runs ``python -m plugin_core.backends._container_entrypoint`` (the ZenML way).
The service JSON comes from ``$OUTLIVE_SERVICE_JSON`` (which works with a remote engine, where
no host file can be mounted) or ``--config-file PATH``. Output goes to the container's own
stdout and stderr, so ``docker logs`` and ``get_logs`` show it. SIGTERM (forwarded by the init
process Docker runs with ``init=True``) raises ``SystemExit`` so that ``run()`` loops end with
their ``finally`` blocks and context managers run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from types import FrameType

SERVICE_JSON_ENV = "OUTLIVE_SERVICE_JSON"


def _exit_on_term(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _service_json(argv: list[str]) -> str:
    parser = argparse.ArgumentParser(prog="python -m plugin_core.backends._container_entrypoint")
    parser.add_argument("--config-file", help="service JSON file (default: $OUTLIVE_SERVICE_JSON)")
    args = parser.parse_args(argv)
    if args.config_file:
        with open(args.config_file) as handle:
            return handle.read()
    text = os.environ.get(SERVICE_JSON_ENV)
    if not text:
        parser.error(f"no service definition: set ${SERVICE_JSON_ENV} or pass --config-file")
    return text


def launch_service(service_config_file: str) -> None:
    """Load the service from its JSON file and run it here (ZenML's entrypoint function)."""
    with open(service_config_file) as handle:
        _run(handle.read())


def _run(text: str) -> None:
    from plugin_core.backends.container import ContainerService

    service: ContainerService = ContainerService.from_json(text)
    print(f"outlive: running {service} in a container", flush=True)
    service.run()


def main(argv: list[str] | None = None) -> int:
    """Run the service; exit 1 with the traceback on stderr when it cannot be loaded or fails."""
    signal.signal(signal.SIGTERM, _exit_on_term)
    text = _service_json(sys.argv[1:] if argv is None else argv)
    try:
        _run(text)
    except SystemExit:
        raise
    except BaseException:  # the process boundary: report the reason, then exit 1
        traceback.print_exc()
        sys.stderr.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
