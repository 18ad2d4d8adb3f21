"""The cluster commands of ``sweep``: submit, status, logs, stop, jobs (Ray's Jobs API)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from orchestrator.cli.text import EXIT_FAILED, format_table


def cmd_submit(args: argparse.Namespace) -> int:
    from orchestrator.api import new_run_dir
    from orchestrator.config.loader import load_config
    from orchestrator.execution import jobs

    config = load_config(args.config)  # fail here, not on the cluster
    # Credentials would travel in the job's command line, metadata or shipped config.
    jobs.refuse_credentials("--run-dir", args.run_dir)
    jobs.refuse_credentials("--storage", args.storage)
    jobs.refuse_credentials(f"{args.config}: storage", config.storage)
    if args.run_dir:
        run_dir = args.run_dir
    else:
        from orchestrator.data.filesystem import is_uri

        storage = args.storage or config.storage
        run_dir = str(
            new_run_dir(storage if is_uri(storage) else os.path.abspath(storage), config.name)
        )
    extra = ("--workers", str(args.workers)) if args.workers else ()
    sub = jobs.submit(
        args.config,
        address=args.address,
        run_dir=run_dir,
        working_dir=args.working_dir,
        excludes=tuple(args.exclude or ()),
        extra_args=extra,
    )
    print(f"submitted job {sub.job_id} to {sub.address}; results in {sub.run_dir}")
    print(f"follow it with: sweep logs {sub.job_id} --follow --address {sub.address}")
    if not args.wait:
        return 0
    for text in jobs.logs(sub.job_id, args.address, follow=True):
        print(text, end="", flush=True)
    state, message = jobs.status(sub.job_id, args.address)
    print(
        f"job {sub.job_id}: {state}" + (f" ({message})" if message and state != "SUCCEEDED" else "")
    )
    return 0 if state == "SUCCEEDED" else EXIT_FAILED


def cmd_status(args: argparse.Namespace) -> int:
    from orchestrator.execution import jobs

    state, message = jobs.status(args.job, args.address)
    print(f"{args.job}: {state}" + (f" - {message}" if message else ""))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from orchestrator.execution import jobs

    for text in jobs.logs(args.job, args.address, follow=args.follow):
        print(text, end="", flush=True)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from orchestrator.execution import jobs

    jobs.stop(args.job, args.address)
    print(
        f"asked job {args.job} to stop; it commits what finished "
        "(resume its run folder with: sweep resume RUN_DIR)"
    )
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from orchestrator.execution import jobs

    rows = [
        [j["job_id"], j["status"], j["sweep"], j["run_dir"] or ""]
        for j in jobs.sweeps(args.address)
    ]
    print(
        format_table(rows, ["job", "state", "sweep", "run folder"])
        if rows
        else "no sweeps on this cluster"
    )
    return 0


def add_job_commands(sub: Any) -> None:
    address = {"help": "the cluster's Jobs API, e.g. http://127.0.0.1:8265 (default: RAY_ADDRESS)"}
    submit = sub.add_parser("submit", help="run a sweep on a Ray cluster as a Ray job")
    submit.add_argument("config")
    submit.add_argument("--address", **address)
    submit.add_argument("--storage", help="parent folder of the run folder, as the cluster sees it")
    submit.add_argument("--run-dir", help="the run folder, as the cluster sees it")
    submit.add_argument("--working-dir", default=".", help="folder shipped with the job (.)")
    submit.add_argument("--exclude", action="append", help="a pattern not to ship (repeatable)")
    submit.add_argument("--workers", type=int, help="worker actors (default: every CPU)")
    submit.add_argument("--wait", action="store_true", help="stream the output until it ends")
    submit.set_defaults(func=cmd_submit)
    for name, func, text in (
        ("status", cmd_status, "the state of a submitted sweep"),
        ("logs", cmd_logs, "the output of a submitted sweep"),
        ("stop", cmd_stop, "stop a submitted sweep (it stays resumable)"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("job")
        cmd.add_argument("--address", **address)
        if name == "logs":
            cmd.add_argument("--follow", action="store_true", help="keep streaming until it ends")
        cmd.set_defaults(func=func)
    listing = sub.add_parser("jobs", help="the sweeps submitted to a cluster")
    listing.add_argument("--address", **address)
    listing.set_defaults(func=cmd_jobs)
