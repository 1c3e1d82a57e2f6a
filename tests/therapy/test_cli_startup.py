"""A therapy command imports only what it needs: the calculators and the safety checks
start without the clinic's database, the web framework, the science's numerics or the
link's cryptography (nor, for a JSON answer, the terminal renderer), and `thecal --help`
lists every area without importing any.
(Speed itself is measured in `benchmarks/bench_cli.py`, never here.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from thecal.cli.main import AREAS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

HEAVY = ("numpy", "scipy", "matplotlib", "numba", "dask", "fastapi", "starlette", "uvicorn",
         "sqlalchemy", "alembic", "jinja2", "cryptography")  # fmt: skip

# Runs one command in a fresh interpreter, then writes the names of the loaded modules.
CHILD = """
import json, sys
from thecal.cli.main import app
try:
    app(sys.argv[2:], prog_name="thecal")
except SystemExit:
    pass
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(sorted(sys.modules), out)
"""


def modules_after(tmp_path: Path, *args: str) -> set[str]:
    listing = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", CHILD, str(listing), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(listing.read_text(encoding="utf-8")))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


THERAPY_COMMANDS = [
    ["calc", "rate", "--drug", "morphine", "--concentration", "10 mg/mL", "--dose", "4 mg/day",
     "--json"],
    ["calc", "refill", "--reservoir", "20 mL", "--alarm-threshold", "2 mL", "--prescription",
     str(EXAMPLES / "morphine-cancer-pain-ptm.toml"), "--start", "2026-03-02T08:00", "--json"],
    ["check", str(EXAMPLES / "baclofen-flex-spasticity.toml"), "--json"],
]  # fmt: skip


@pytest.mark.parametrize("args", THERAPY_COMMANDS, ids=["calc rate", "calc refill", "check"])
def test_a_therapy_command_loads_no_database_web_numerics_or_cryptography(
    tmp_path: Path, args: list[str]
) -> None:
    loaded = modules_after(tmp_path, *args)
    assert "thecal.therapy.quantities" in loaded  # the command really ran
    assert top_level(loaded).isdisjoint(HEAVY), sorted(top_level(loaded) & set(HEAVY))
    other_areas = {"clinic", "web", "science", "link", "pump", "programmer"}
    assert not {m for m in loaded if m.startswith("thecal.") and m.split(".")[1] in other_areas}
    assert "rich" not in top_level(loaded)  # a JSON answer needs no terminal rendering


def test_the_help_lists_every_area_without_importing_one(tmp_path: Path) -> None:
    loaded = modules_after(tmp_path, "--help")
    areas = {area.module for area in AREAS.values()}
    assert not areas & loaded, sorted(areas & loaded)
    assert top_level(loaded).isdisjoint(HEAVY)


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


@pytest.mark.parametrize("name", list(AREAS))
def test_the_help_line_of_an_area_is_its_own_help(name: str) -> None:
    command = AREAS[name].load(name)
    assert command.name == name
    assert _first_paragraph(command.help or "") == AREAS[name].help
