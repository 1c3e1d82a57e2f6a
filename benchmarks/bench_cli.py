"""Command-line start-up: wall time of `thecal calc rate`, `thecal check FILE` and
`thecal --help` as a person runs them, against a bare interpreter measured in the same run.

Each case runs as its own process (as the console script does: `from thecal.cli.main
import run; run()`); the cases take turns, round after round, so a busy machine slows
them alike; byte code is cached, as in a person's shell (a first, unmeasured run of
each case writes it); the median of the rounds is reported, with the ratio to `python -c pass`
and the time left after subtracting it. For context, the same for importing every
area's command module at once (what each command paid before the areas were loaded
lazily).

Targets (issue 20): `calc rate` and `check FILE` <= 150 ms, `--help` <= 200 ms.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 15
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RUN = "from thecal.cli.main import run; run()"
EVERY_AREA = (
    "import thecal.cli.therapy, thecal.cli.calc, thecal.cli.tour, thecal.cli.sim, "
    "thecal.cli.demo, thecal.cli.science, thecal.cli.pump_serve, thecal.cli.programmer, "
    "thecal.cli.patient, thecal.cli.clinic"
)

CASES: dict[str, tuple[list[str], float | None]] = {
    "python -c pass (baseline)": (["-c", "pass"], None),
    "thecal calc rate ... --json": (
        ["-c", RUN, "calc", "rate", "--drug", "morphine", "--concentration", "10 mg/mL",
         "--dose", "4 mg/day", "--json"],
        0.150,
    ),
    "thecal check FILE --json": (
        ["-c", RUN, "check", str(EXAMPLES / "baclofen-flex-spasticity.toml"), "--json"],
        0.150,
    ),
    "thecal --help": (["-c", RUN, "--help"], 0.200),
    "context: import every area": (["-c", EVERY_AREA], None),
}  # fmt: skip


# As a person's shell runs it: byte code cached (the first, unmeasured run writes it).
ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _once(args: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run, in seconds."""
    cpu = _cpu_of_children()
    begin = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, check=False, env=ENVIRONMENT
    )
    elapsed = time.perf_counter() - begin
    if done.returncode != 0:
        raise SystemExit(f"{args!r} failed: {done.stderr.decode(errors='replace')}")
    return elapsed, _cpu_of_children() - cpu


def main() -> None:
    walls: dict[str, list[float]] = {name: [] for name in CASES}
    cpus: dict[str, list[float]] = {name: [] for name in CASES}
    for args, _ in CASES.values():
        _once(args)  # warm the file cache and the byte-code cache
    for _ in range(ROUNDS):
        for name, (args, _) in CASES.items():
            wall, cpu = _once(args)
            walls[name].append(wall)
            cpus[name].append(cpu)
    baseline = statistics.median(walls["python -c pass (baseline)"])
    load = os.getloadavg()[0]
    print(f"median of {ROUNDS} rounds, each case a fresh process; load average {load:.1f}")
    print("(on a busy machine wall time waits for the CPU; CPU time is what a quiet one needs)")
    for name, (_, target) in CASES.items():
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        line = (
            f"{name:30s} wall {wall * 1e3:7.1f} ms ({wall / baseline:5.1f}× baseline), "
            f"CPU {cpu * 1e3:7.1f} ms"
        )
        if target is not None:
            verdict = "meets" if wall <= target else "misses"
            line += f"; target wall <= {target * 1e3:.0f} ms: {verdict}"
        print(line)


if __name__ == "__main__":
    main()
