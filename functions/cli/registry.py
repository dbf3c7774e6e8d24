"""What a command is: its words, its options, what it runs and the API operations it does.

Each command module lists its commands in ``COMMANDS``; the parser is built from them and
the parity test checks that every API operation (a route function's name, e.g.
``list_users``) has one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from functions.cli.output import print_record
from functions.core.kinds import KINDS
from functions.services import Services

CommandRun = Callable[[Services, argparse.Namespace], int]
Options = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    """One command: ``words`` as typed (``("tenant", "add")``), a one-line ``help``,
    ``options`` that add its flags, ``run`` that does it and returns the exit code, and
    the API ``operations`` (route function names) whose work it does. A command that
    ``needs_services`` not is run with ``None`` (it works without any settings)."""

    words: tuple[str, ...]
    help: str
    options: Options
    run: CommandRun
    operations: tuple[str, ...] = ()
    needs_services: bool = True


# --- flags several commands share --------------------------------------------------------


def no_options(_: argparse.ArgumentParser) -> None:
    """A command without flags."""


def tenant_flag(p: argparse._ActionsContainer, *, required: bool = True) -> None:
    p.add_argument("--tenant-id", required=required, metavar="TENANT_ID",
                   help="directory (tenant) ID")


def partner_flag(p: argparse._ActionsContainer) -> None:
    p.add_argument("--partner-tenant-id", required=True, metavar="TENANT_ID",
                   help="the partner's own tenant ID")


def partner_json_flags(p: argparse.ArgumentParser) -> None:
    """The options of a read of one partner connection: its id, and ``--json``."""
    partner_flag(p)
    json_flag(p)


def json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print what the HTTP API answers (a list: the items of every page)")


def enable_flags(p: argparse.ArgumentParser, enable: str, disable: str) -> None:
    """``--enable`` / ``--disable`` (one of them at most), as ``args.enabled``: True, False or
    None when neither is given."""
    state = p.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_const", const=True,
                       help=enable)
    state.add_argument("--disable", dest="enabled", action="store_const", const=False,
                       help=disable)


def printed_json(args: argparse.Namespace, record: BaseModel) -> bool:
    """With ``--json``, print ``record`` as the API answers it and say so (the caller is
    done); without, print nothing (the caller prints its human text)."""
    if args.json:
        print_record(record)
    return bool(args.json)


def kind_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=KINDS.names(), help="only runs of this kind")
