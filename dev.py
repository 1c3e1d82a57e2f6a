#!/usr/bin/env python3
"""Set up thecal in a local virtual environment and run one of its jobs.

Needs only Python 3.11+ on the machine:

    python3 dev.py demo     # the main job: `thecal demo` (extra arguments are passed on)
    python3 dev.py test     # lint, type checks and the whole test suite
    python3 dev.py bench    # the benchmarks (their own command; tests never time anything)
    python3 dev.py shell    # print how to activate the environment

The environment lives in `.venv/` next to this file and is rebuilt only when
`requirements.lock` or `pyproject.toml` change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".thecal-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.lock", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create `.venv` and install the pinned dependencies and thecal itself."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py must run, and explain, on older Pythons
        sys.exit(f"thecal needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = _inputs_digest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("Installing pinned dependencies (requirements.lock) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-r", str(ROOT / "requirements.lock")], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)


def run(*args: str) -> int:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return subprocess.run(list(args), cwd=ROOT, env=env).returncode


def test(extra: list[str]) -> int:
    steps: list[tuple[str, ...]] = [
        ("ruff", "check", "src", "tests", "benchmarks", "dev.py"),
        ("ruff", "format", "--check", "src", "tests", "benchmarks", "dev.py"),
        ("mypy",),
        ("pytest", "-n", "auto", "--dist", "loadgroup", *extra),
    ]
    for step in steps:
        print("$", " ".join(step), flush=True)
        code = run(str(BIN / step[0]), *step[1:])
        if code != 0:
            return code
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    job, extra = argv[0], argv[1:]
    if job not in {"demo", "test", "bench", "shell"}:
        print(f"unknown job {job!r}; accepted: demo, test, bench, shell", file=sys.stderr)
        return 2
    ensure_environment()
    if job == "demo":
        return run(str(BIN / "thecal"), "demo", *extra)
    if job == "test":
        return test(extra)
    if job == "bench":
        return run(str(BIN / "python"), "-m", "benchmarks", *extra)
    print(f"source {BIN / 'activate'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
