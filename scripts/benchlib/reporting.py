"""What every benchmark reports around its numbers, written once.

- The machine: package versions, CPU model, load average, other Ray nodes, this process's
  peak memory, the repository's commit; :func:`machine_facts` gathers them in one mapping.
- Numbers: a median that counts "not reached" as the worst value, and the number formats
  of the printed tables; Markdown table rows and rules.
- Output: progress lines on stderr (:func:`log`), the JSON files (:func:`write_json`), and
  the argument parser every benchmark starts from (:func:`argument_parser`).

Only the standard library is imported here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the repository: scripts/benchlib/ is two below


# -- the machine ---------------------------------------------------------------------------


def package_versions(dists: Iterable[str]) -> dict[str, str | None]:
    """Each distribution's installed version (None if it is not installed), in order."""
    out: dict[str, str | None] = {}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo; the platform's processor elsewhere)."""
    if not os.path.exists("/proc/cpuinfo"):
        return platform.processor()
    with open("/proc/cpuinfo") as fh:
        return next(
            (line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")),
            platform.processor(),
        )


def load_average(digits: int | None = None) -> float | None:
    """The 1-minute load average, rounded to ``digits`` if given (None where there is none)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return load if digits is None else round(load, digits)


def other_ray_nodes() -> int | None:
    """How many raylet processes run on this machine (None without Linux's /proc)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    count = 0
    for comm in proc.glob("[0-9]*/comm"):
        try:
            count += comm.read_text().strip() == "raylet"
        except OSError:  # the process ended meanwhile
            pass
    return count


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def git_commit() -> str | None:
    """The repository's commit, with ``+dirty`` if the product code has local changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "orchestrator", "workers"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine_facts(dists: Iterable[str]) -> dict[str, Any]:
    """Cores, CPU, platform, Python, load, the versions of ``dists`` and the commit."""
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_1min": load_average(),
        **package_versions(dists),
        "commit": git_commit(),
    }


# -- numbers -------------------------------------------------------------------------------


def median_or_none(values: Sequence[float | None], mode: str | None = None) -> float | None:
    """Median; None (not reached / no score) counts as the worst value for ``mode``.

    With ``mode`` None or ``"min"`` the worst is +inf, with ``"max"`` -inf; a median that
    is infinite (most values missing) is None.
    """
    worst = math.inf if mode in (None, "min") else -math.inf
    vals = [worst if v is None else v for v in values]
    med = statistics.median(vals) if vals else None
    return None if med is None or math.isinf(med) else med


def fmt_loss(x: float | None) -> str:
    """A loss or regret: 4 decimals, 1 above 10, scientific outside [1e-3, 1e4)."""
    if x is None:
        return "-"
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.4f}" if abs(x) < 10 else f"{x:.1f}"
    return f"{x:.2e}"


def fmt_count(value: float | None) -> str:
    """A count or an amount of compute, with thousands separators ("-" for none)."""
    return "-" if value is None else f"{value:,.0f}"


def fmt_score(value: float | None) -> str:
    """A score with 4 decimals ("-" for none)."""
    return "-" if value is None else f"{value:.4f}"


def fmt_seconds(seconds: float) -> str:
    """Wall seconds: milliseconds resolution from 0.1 s up, two significant digits below."""
    return f"{seconds:.3f}" if seconds >= 0.1 else f"{seconds:.2g}"


def md_row(cells: Iterable[str]) -> str:
    """One row of a Markdown table."""
    return "| " + " | ".join(cells) + " |"


def md_rule(columns: int, *, numeric: bool) -> str:
    """The rule under a Markdown header; ``numeric`` right-aligns every column but the first."""
    rest = " ---: |" if numeric else " --- |"
    return "| --- |" + rest * (columns - 1)


# -- output --------------------------------------------------------------------------------


def log(message: str) -> None:
    """A progress line on stderr, so that stdout keeps only the results."""
    print(message, file=sys.stderr, flush=True)


def _json_default(value: Any) -> Any:
    """Dataclass instances as their fields; anything else JSON cannot write as its text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def write_json(path: str | os.PathLike[str], doc: Any, *, indent: int | None = 2) -> None:
    """Write ``doc`` as JSON (dataclasses as their fields, other odd values as text)."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=indent, default=_json_default)
        fh.write("\n")


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of a benchmark's docstring."""
    return argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])


def load_warning(load: float | None, raylets: int | None, cpus: float) -> str:
    """A line about other work on the machine (``cpus``: what the benchmark's Ray has): it
    skews every timing."""
    text = f"before the run: 1-min load average {load}, other Ray nodes running {raylets}"
    busy = (load or 0.0) > 0.5 * cpus or bool(raylets)
    return text + ("  WARNING: the machine was busy; timings are unreliable" if busy else "")
