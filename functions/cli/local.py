"""local env: the settings of the running local stack (scripts/serve.sh) as export lines."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from functions.cli.registry import Command
from functions.core.errors import ConfigurationError
from functions.services import Services

STATE = Path(".tenantsync") / "local.json"  # written by scripts/serve.py
CHECKOUT = Path(__file__).resolve().parents[2]  # this checkout (an editable install)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_START = "start one with `bash scripts/serve.sh` (in a checkout of tenantsync)"


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-file", type=Path, metavar="PATH",
                   help="the stack's settings file (default: .tenantsync/local.json here or "
                        "in a directory above, else in this checkout)")


def state_file(start: Path) -> Path | None:
    """The first .tenantsync/local.json from ``start`` upward, else this checkout's."""
    for folder in (start, *start.parents, CHECKOUT):
        if (folder / STATE).is_file():
            return folder / STATE
    return None


def read_state(path: Path) -> dict[str, Any]:
    """A running stack's settings.

    Raises:
        ConfigurationError: no such file, not a stack's settings, or its stack is gone.
    """
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"no local stack is running ({path} does not exist): "
                                 f"{_START}") from None
    except (OSError, ValueError):
        raise ConfigurationError(f"{path} is not a local stack's settings file: delete it "
                                 f"and {_START}") from None
    env = state.get("env") if isinstance(state, dict) else None
    if not isinstance(env, dict) or not all(
            isinstance(k, str) and _NAME.match(k) and isinstance(v, str) for k, v in env.items()):
        raise ConfigurationError(f"{path} is not a local stack's settings file: delete it "
                                 f"and {_START}")
    pid = (state.get("pids") or {}).get("serve")
    if isinstance(pid, int) and not _alive(pid):
        raise ConfigurationError(f"the local stack that wrote {path} is no longer running "
                                 f"(process {pid} is gone): {_START}")
    return dict(state)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's process
    # A process that ended but was not yet reaped (a zombie, state Z) is gone too.
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc here: it exists


def cmd_local_env(_: Services | None, args: argparse.Namespace) -> int:
    path = args.state_file or state_file(Path.cwd())
    if path is None:
        raise ConfigurationError(f"no local stack is running (no {STATE} here, above, or in "
                                 f"{CHECKOUT}): {_START}")
    state = read_state(path)
    print(f"# tenantsync's local stack (API {state.get('api', '?')}); "
          'use: eval "$(tenantsync local env)"')
    for name, value in sorted(state["env"].items()):
        print(f"export {name}={shlex.quote(value)}")
    return 0


COMMANDS = (
    Command(("local", "env"), "print the running local stack's settings as export lines",
            _options, cmd_local_env, needs_services=False),
)
