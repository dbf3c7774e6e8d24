"""The argument parser, built from every module's COMMANDS, and the entry point."""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from functions.cli import (
    cost,
    devices,
    directory,
    feed,
    local,
    notifications,
    onboarding,
    partner_consent,
    partners,
    runs,
    syncs,
    tenants,
    webhooks,
)
from functions.cli.registry import Command
from functions.core.codes import exit_code
from functions.core.errors import TenantSyncError
from functions.services import get_services

COMMANDS: tuple[Command, ...] = (
    *tenants.COMMANDS, *partners.COMMANDS, *syncs.COMMANDS, *directory.COMMANDS,
    *devices.COMMANDS, *runs.COMMANDS, *local.COMMANDS, *onboarding.COMMANDS,
    *feed.COMMANDS, *webhooks.COMMANDS, *notifications.COMMANDS, *partner_consent.COMMANDS,
    *cost.COMMANDS,
)

# The help of each first word that groups several commands.
AREAS = {
    "tenant": "onboard and manage tenants (directory connections)",
    "partner": "partner connections (device and software sync of their customers)",
    "sync": "run a sync now, here, with progress",
    "runs": "runs: a tenant's, one, failures across tenants",
    "cost": "what a tenant costs a month: before onboarding (its size), after (its runs)",
    "local": "the local stack (scripts/serve.sh)",
    "consent": "admin-consent links: one-click onboarding",
    "held": "the directory sync the deletion guard held back: preview, discard",
    "webhook": "signed webhook subscriptions and their deliveries",
}

EXIT_CODES = "Exit codes: 0 done; 1 work failed (a sync did not succeed); 2 bad input or " \
             "configuration."


def operations() -> dict[str, tuple[str, ...]]:
    """API operation (route function name) -> the words of the command that does it."""
    return {op: c.words for c in COMMANDS for op in c.operations}


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line that never repeats a value it did not expect."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"tenantsync: error: {_scrub(message)} (see {self.prog} --help)\n")


_OPTION = re.compile(r"^--?[A-Za-z][A-Za-z0-9-]*$")


def _scrub(message: str) -> str:
    """argparse's message without what the user typed where it may be a secret: an
    unrecognised value (a secret pasted after its flag) or the value of a secret flag."""
    if message.startswith("unrecognized arguments: "):
        words = message.removeprefix("unrecognized arguments: ").split()
        shown = [w for w in words if _OPTION.match(w)]
        hidden = len(words) - len(shown)
        text = "unrecognized arguments: " + (" ".join(shown) or "")
        if hidden:
            text += f"{' and ' if shown else ''}{hidden} value(s), not shown"
        return text
    # A secret may be pasted where its type is asked for (--credential) as well.
    match = re.match(r"^argument ([^:]*(?:secret|credential)[^:]*): ", message)
    if match and "expected" not in message:
        choices = re.search(r"\(choose from ([^()]*)\)$", message)
        allowed = f"; choose from {choices.group(1)}" if choices else ""
        return f"argument {match.group(1)}: the value given is not valid (not shown){allowed}"
    return message


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tenantsync", allow_abbrev=False,
        description="Onboard tenants and partners, run syncs and read what they stored: "
        f"what the HTTP API does, from a shell. {EXIT_CODES}",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log tenantsync's progress and decisions to stderr; -vv adds the "
                             "SDKs' HTTP traffic")
    top = parser.add_subparsers(dest="area", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    groups: dict[str, Any] = {}
    for command in COMMANDS:
        first, *rest = command.words
        if rest:
            if first not in groups:
                area = top.add_parser(first, help=AREAS.get(first), allow_abbrev=False,
                                      description=AREAS.get(first))
                groups[first] = area.add_subparsers(dest="command", required=True,
                                                    metavar="COMMAND", parser_class=_Parser)
            p = groups[first].add_parser(rest[0], help=command.help, allow_abbrev=False,
                                         description=command.help)
        else:
            p = top.add_parser(first, help=command.help, allow_abbrev=False,
                               description=command.help)
        command.options(p)
        p.set_defaults(func=command.run, needs_services=command.needs_services)
    return parser


class _CurrentStderr:
    """sys.stderr as it is at each write, so that logs go where a live display sends it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _configure_logging(verbose: int) -> None:
    # Without -v only the one-line error reaches the terminal: what went wrong and its fix,
    # not the diagnostics behind it (those are for -v).
    logging.basicConfig(level=logging.INFO if verbose else logging.CRITICAL,
                        format="%(levelname)s %(name)s: %(message)s", stream=_CurrentStderr())
    sdk = logging.INFO if verbose >= 2 else logging.ERROR
    for name in ("azure", "msal"):
        logging.getLogger(name).setLevel(sdk)
    # urllib3 logs each request's method, path and status at DEBUG: the HTTP traffic of
    # Graph, Entra and Partner Center (requests), beside azure-core's own at INFO.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        services = get_services() if args.needs_services else None
        code = int(args.func(services, args))
        sys.stdout.flush()
        return code
    except TenantSyncError as exc:
        print(f"tenantsync: error: {exc.message}", file=sys.stderr)
        return exit_code(exc.code)
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except KeyboardInterrupt:
        print("tenantsync: interrupted", file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """The reader of stdout went away (`| head`): send what is left nowhere, so that the
    flush at exit does not fail again (Python's documented recipe, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (captured): nothing will be flushed to a closed pipe
