"""``sweep dashboard RUN_DIR [RUN_DIR ...]``: a live local web app over runs (see
:mod:`orchestrator.dashboard`)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from orchestrator.errors import ConfigError


def cmd_dashboard(args: argparse.Namespace) -> int:
    from orchestrator.dashboard.server import DashboardServer, plotly_js

    if not args.poll > 0:
        raise ConfigError(f"--poll: seconds between checks, more than 0 (got {args.poll})")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port: 0 to 65535 (got {args.port}; 0 picks any free port)")
    plotly_js()  # say now if plotly is missing
    server = DashboardServer(
        args.paths, host=args.host, port=args.port, token=args.token, poll_s=args.poll
    )
    runs = len(server.catalog.runs())
    server.start()
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(
            f"sweep dashboard: {runs} run{'s' if runs != 1 else ''} at "
            f"{server.url_with_token}  (Ctrl+C stops it)",
            flush=True,
        )
        if server.token is not None:
            how = "made up for this session" if server.token_generated else "given with --token"
            print(
                f"  every request needs the token ({how}); it is printed only here. Anyone "
                f"who can reach {server.host}:{server.port} and has it can read these runs.",
                flush=True,
            )
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("sweep dashboard: stopped", file=sys.stderr)
    return 0


def add_dashboard_command(sub: Any) -> None:
    from orchestrator.dashboard.server import DEFAULT_POLL_S, DEFAULT_PORT

    dashboard = sub.add_parser(
        "dashboard",
        help="a live local web app over running and finished sweeps",
        description="Serve a live dashboard of runs: each RUN_DIR is a run folder, or a "
        "storage folder holding runs (all listed, new ones as they appear). Local paths "
        "and pyarrow URIs (s3://...) alike; read-only.",
    )
    dashboard.add_argument("paths", nargs="+", metavar="RUN_DIR")
    dashboard.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (127.0.0.1); any other needs a token (made up if not given)",
    )
    dashboard.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on ({DEFAULT_PORT}; 0: any free port)",
    )
    dashboard.add_argument("--token", help="require this token on every request")
    dashboard.add_argument(
        "--poll",
        type=float,
        default=DEFAULT_POLL_S,
        help=f"seconds between the page's checks for new results ({DEFAULT_POLL_S:g})",
    )
    dashboard.set_defaults(func=cmd_dashboard)
