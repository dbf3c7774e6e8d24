"""Command line: `python -m simulator serve|check --fixture FILE`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .fixture import FixtureError, load_fixture, read_fixture
from .sim import Simulator


def _write_ready(path: str, payload: dict[str, object]) -> None:
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(temporary, target)  # readers never see a half-written file


def serve(fixture_path: str, port: int, ready_file: str | None) -> int:
    try:
        simulator = Simulator(read_fixture(fixture_path), port=port)  # validates it once
    except FixtureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    simulator.start()
    try:
        ready = {
            "base_url": simulator.base_url,
            "ca_path": simulator.ca_path,
            "pid": os.getpid(),
            # IDENTITY_ENDPOINT and IDENTITY_HEADER for azure-identity's ManagedIdentityCredential
            "identity_endpoint": simulator.identity_endpoint,
            "identity_header": simulator.identity_header,
            "storage_url": simulator.storage_url,
        }
        if ready_file:
            _write_ready(ready_file, ready)
        else:
            print(json.dumps(ready), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
        if ready_file:
            Path(ready_file).unlink(missing_ok=True)
    return 0


def check(fixture_path: str) -> int:
    try:
        load_fixture(fixture_path)
    except FixtureError as exc:
        print(str(exc))
        return 2
    print("fixture OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve", help="serve HTTPS in the foreground until SIGTERM/SIGINT"
    )
    serve_parser.add_argument("--fixture", required=True, help="fixture JSON file")
    serve_parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve_parser.add_argument(
        "--ready-file",
        help="write {base_url, ca_path, pid, identity_endpoint, identity_header} JSON here",
    )
    serve_parser.add_argument("--verbose", action="store_true", help="log every request")
    check_parser = commands.add_parser(
        "check", help="validate a fixture: exit 0, or print the error and exit 2"
    )
    check_parser.add_argument("--fixture", required=True, help="fixture JSON file")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(args.fixture)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    return serve(args.fixture, args.port, args.ready_file)


if __name__ == "__main__":
    sys.exit(main())
