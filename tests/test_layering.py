"""The modules below others import none of them (read from the source, imports inside functions and under
TYPE_CHECKING included), so that no import circle comes back: the kind registry sits above what knows no kind
(template text, the reply parsers, the typed questions), the provider registry and the judge-server protocol
below the providers and the server, and the fake server's shared pieces below it and its route modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "judgekit"

# module -> the judgekit modules it may import (a prefix allows a package and its modules)
ALLOWED = {
    "templates": {"judgekit.errors"},
    "parsers": {"judgekit.errors"},
    "questions": {"judgekit.errors", "judgekit.parsers", "judgekit.templates"},
    "kinds": {"judgekit.errors", "judgekit.parsers", "judgekit.questions", "judgekit.templates"},
    "provider_registry": {"judgekit.errors"},
    "testing/wire": set(),
    "testing/batches": {"judgekit.testing.wire"},
    "testing/decisions": {"judgekit.testing.wire"},
    "testing/rewards": {"judgekit.testing.wire"},
    "testing/groups": {"judgekit.testing.wire"},
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "judgekit" else [node.module]
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "judgekit"}


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_a_lower_module_imports_nothing_above_it(module: str) -> None:
    imported = _imports(ROOT / f"{module}.py")
    assert imported <= ALLOWED[module], f"judgekit/{module}.py imports {sorted(imported - ALLOWED[module])}"


def test_the_check_reads_the_imports_it_guards_against() -> None:
    assert "judgekit.kinds" in _imports(ROOT / "parsing.py")  # the public face reads the registry
    assert "judgekit.testing.batches" in _imports(ROOT / "testing" / "server.py")
