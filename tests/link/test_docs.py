"""The threat model names only tests that exist (docs/hazards.md has its own check, in
tests/pump/test_hazards.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
SEARCHED = ("tests/link", "tests/programmer", "tests/web", "tests/clinic")
REFERENCE = re.compile(r"(…|[\w/]*\w+\.py)::(test_\w+)")


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def _resolve(name: str) -> Path | None:
    if "/" in name:
        return ROOT / name
    found = [ROOT / folder / name for folder in SEARCHED if (ROOT / folder / name).exists()]
    return found[0] if len(found) == 1 else None


def test_every_test_named_in_the_threat_model_exists() -> None:
    document = "docs/security.md"
    text = (ROOT / document).read_text(encoding="utf-8")
    previous: Path | None = None
    checked = 0
    for file_name, test_name in REFERENCE.findall(text):
        path = previous if file_name == "…" else _resolve(file_name)
        assert path is not None and path.exists(), f"{document}: cannot find {file_name}"
        assert test_name in _functions(path), f"{document} names {path}::{test_name}"
        previous = path
        checked += 1
    assert checked >= 20
