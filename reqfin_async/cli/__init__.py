"""The ``reqfin-async`` command: ``demo``, ``sandbox``, ``watch``, ``collector-sandbox``.

Each subcommand lives in its own module and is imported only when run, so
``reqfin-async --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .._version import __version__

__all__ = ["main", "build_parser"]

# subcommand -> (module, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("reqfin_async.cli.demo", "run the demo against an embedded sandbox (no credentials)"),
    "sandbox": ("reqfin_async.cli.sandbox_cmd", "serve a local emulation of the API"),
    "watch": ("reqfin_async.cli.watch", "watch invoices until paid, rejected, canceled or overdue"),
    "collector-sandbox": (
        "reqfin_async.cli.collector_sandbox_cmd",
        "serve a local emulation of a self-hosted Invoice-Collector",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="reqfin-async",
        description="Asyncio client for the Request Finance invoice API: demo, sandbox, watcher.",
    )
    parser.add_argument("--version", action="version", version=f"reqfin-async {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(command)
    version = sub.add_parser("version", help="print the version")
    version.set_defaults(_module=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "version":
        print(f"reqfin-async {__version__}")
        return 0
    module = importlib.import_module(args._module)
    try:
        code: int = module.run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
