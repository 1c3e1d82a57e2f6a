"""The layer rule: every import in `src/` follows the table of allowed imports in
`docs/architecture.md` (the table is the specification; this test reads it).

In the table's "may import" column, a name in backticks that starts with a layer is an
allowed dependency: a layer (`pump`) allows all of that package, a module (`pump.battery`)
only that module. "standard library only" forbids third-party imports; the other words
(third-party libraries) are not checked here. A layer may always import itself.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "thecal"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True)
class Allowed:
    """One row of the layer table."""

    layer: str
    imports: frozenset[str]
    """Layers and dotted modules (``pump.battery``) this layer may import."""
    everything: bool
    stdlib_only: bool


def layer_table() -> dict[str, Allowed]:
    """The rows of the table whose header is ``| layer | package | ... | may import |``."""
    lines = ARCHITECTURE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\|\s*layer\s*\|", line))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    column = header.index("may import")
    rows: dict[str, Allowed] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        layer = cells[0].strip("`")
        may = cells[column]
        named = set(re.findall(r"`([a-z_][a-z_.]*)`", may))
        rows[layer] = Allowed(
            layer,
            frozenset(name for name in named if name.split(".")[0] != "thecal"),
            "everything" in may,
            "standard library only" in may,
        )
    return rows


def layers() -> list[str]:
    return sorted(p.name for p in SOURCE.iterdir() if (p / "__init__.py").is_file())


def _is_module(dotted: str) -> bool:
    path = SOURCE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in a file (line, dotted name), including those inside
    functions; ``from a import b`` counts as ``a.b`` when ``b`` is a module."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = candidate.startswith("thecal.") and _is_module(candidate)
                found.append((node.lineno, candidate if is_module else node.module))
    return found


def _allows(rule: Allowed, target: str) -> bool:
    """`target` is a dotted name below ``thecal`` (``pump.payloads``)."""
    if rule.everything or target.split(".")[0] == rule.layer:
        return True
    return any(target == name or target.startswith(name + ".") for name in rule.imports)


def test_the_table_names_every_layer_and_only_layers() -> None:
    table = layer_table()
    assert sorted(table) == layers()
    for rule in table.values():
        unknown = {name for name in rule.imports if name.split(".")[0] in table} - {
            name for name in rule.imports if _is_module(f"thecal.{name}")
        }
        assert not unknown, f"{rule.layer}: the table names modules that do not exist: {unknown}"


@pytest.mark.parametrize("layer", layers())
def test_every_import_of_a_layer_is_allowed_by_the_table(layer: str) -> None:
    table = layer_table()
    rule = table[layer]
    broken = []
    for path in sorted((SOURCE / layer).rglob("*.py")):
        for line, name in imported(path):
            top = name.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line}"
            if top == "thecal":
                target = name.removeprefix("thecal.")
                if target != "thecal" and not _allows(rule, target):
                    broken.append(f"{where} imports thecal.{target}")
            elif rule.stdlib_only and top not in sys.stdlib_module_names:
                broken.append(f"{where} imports {name} (standard library only)")
    assert not broken, f"{layer} breaks the layer table:\n" + "\n".join(broken)


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The checker itself: a clinic module importing the pump's wire types is caught."""
    module = tmp_path / "probe.py"
    module.write_text("from thecal.pump.payloads import InterrogationReport\n")
    rule = layer_table()["clinic"]
    names = [name for _, name in imported(module)]
    assert names == ["thecal.pump.payloads"]
    assert not _allows(rule, "pump.payloads")
    assert _allows(rule, "programmer.reading")
