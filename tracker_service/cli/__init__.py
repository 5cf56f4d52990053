"""`tracker-service` command line: one module per command, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

# Errors that mean bad input (exit 2, one line), by module: looked up only in modules the
# command imported (a class that was never imported cannot have been raised), so that
# parsing arguments imports nothing heavy.
USER_ERRORS = {
    "tracker_service.config": "ConfigError",
    "tracker_service.model_manifest": "ModelError",
    "tracker_service.evaluation.errors": "EvaluationError",
}

QUIET_LOGGERS = ("faiss.loader", "faiss")

# Each module defines `register(subparsers)`, which adds its command(s) and sets `handler`.
COMMAND_MODULES = (
    "tracker_service.cli.track",
    "tracker_service.cli.eval",
    "tracker_service.cli.eval_video",
    "tracker_service.cli.models",
    "tracker_service.cli.reid",
    "tracker_service.cli.serve",
)

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad input named by the user (a missing file, a wrong kind of model): exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracker-service",
        description="Real-time person tracking: detect, track, re-identify, serve.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {metadata.version('tracker-service')}"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def _user_errors() -> tuple[type[Exception], ...]:
    loaded = [
        getattr(sys.modules[module], name)
        for module, name in USER_ERRORS.items()
        if module in sys.modules
    ]
    return (UsageError, FileNotFoundError, *loaded)


def main(argv: Sequence[str] | None = None) -> int:
    # Spinning OpenMP threads steal the cores other threads (detector, streams) need; must be
    # set before torch or onnxruntime are imported, which happens inside the commands.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # Libraries' start-up chatter (FAISS says which CPU build it tried, six lines).
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    handler: Handler = args.handler
    try:
        return handler(args)
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"tracker-service {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
