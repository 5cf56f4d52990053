"""`tracker-service serve`: the HTTP service with uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tracker_service.cli.track import add_model_options, cli_overrides


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the HTTP API (and web console)",
        description="Serve the API on --host/--port (defaults from the config: 127.0.0.1:8000).",
    )
    serve.add_argument("--host", help="bind address (0.0.0.0 for all interfaces)")
    serve.add_argument("--port", type=int, help="port")
    serve.add_argument("--data-dir", type=Path, help="jobs and the identity gallery")
    add_model_options(serve)
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tracker_service.api import create_app
    from tracker_service.api.logs import configure_logging
    from tracker_service.config import load_config

    overrides = cli_overrides(args)
    service: dict[str, Any] = {}
    if args.host:
        service["host"] = args.host
    if args.port:
        service["port"] = args.port
    if service:
        overrides["service"] = service
    if args.data_dir:
        overrides["data_dir"] = str(args.data_dir)
    config = load_config(args.config, overrides)
    configure_logging(config.service.log_format)
    uvicorn.run(
        create_app(config),
        host=config.service.host,
        port=config.service.port,
        log_config=None,
        # Our own access log (api/logs.py) records paths without their query strings.
        access_log=False,
        timeout_graceful_shutdown=15,
    )
    return 0
