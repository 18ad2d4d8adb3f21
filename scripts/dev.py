#!/usr/bin/env python3
"""Set-up and entry points for developers: needs only Python >= 3.10 and pip.

    python3 scripts/dev.py demo [sweep run args]   # install into .venv, run the example sweep
    python3 scripts/dev.py test [pytest args]      # install into .venv (+ test extra), run tests
                                                   # (no args: ruff, ruff format --check and
                                                   # mypy first, then the whole suite)

The virtual environment is created on first use and re-installed when pyproject.toml
changes. Set SWEEP_VENV to use another folder.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("SWEEP_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
DEMO_CONFIG = "configs/mlp_digits.yaml"


def run(cmd: list[str | Path], **kwargs) -> int:
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], **kwargs)


def ensure_venv() -> None:
    if PYTHON.exists():
        return
    if sys.version_info < (3, 10):  # noqa: UP036 - runs on whatever python3 starts it
        sys.exit(f"sweep needs Python >= 3.10; this is {sys.version.split()[0]}")
    if run([sys.executable, "-m", "venv", VENV]) == 0 and PYTHON.exists():
        return
    # Some distributions ship venv without ensurepip: make a bare venv, let pip fill it.
    if run([sys.executable, "-m", "venv", "--without-pip", VENV]) != 0:
        sys.exit("could not create a virtual environment in " + str(VENV))


def pip(*args: str) -> int:
    if (BIN / "pip").exists():
        return run([PYTHON, "-m", "pip", *args])
    return run([sys.executable, "-m", "pip", "--python", PYTHON, *args])


def ensure_installed(extra: str | None) -> None:
    ensure_venv()
    spec = "." + (f"[{extra}]" if extra else "")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + spec.encode()).hexdigest()
    stamp = VENV / f".sweep-installed-{extra or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    code = pip("install", "--quiet", "--disable-pip-version-check", "-e", spec)
    if code != 0:
        sys.exit(f"installing {spec} failed (pip exit code {code})")
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    if command == "demo":
        ensure_installed(None)
        return run([BIN / "sweep", "run", DEMO_CONFIG, *rest])
    ensure_installed("test")
    if not rest:  # the whole suite: the code's own checks first (seconds), then the tests
        for check in (["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]):
            code = run([BIN / check[0], *check[1:]])
            if code != 0:
                print(f"dev.py: `{' '.join(check)}` failed (exit code {code})", file=sys.stderr)
                return code
    return run([PYTHON, "-m", "pytest", *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
