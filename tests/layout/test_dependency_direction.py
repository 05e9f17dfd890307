"""Imports point one way: commands → server → store, and the client imports nothing of the server.

- `clerkrelay` (the client library and its command line, `clerkrelay.cli`)
  imports nothing of `gateway`, `service` or `relay`, so that it installs and
  runs on its own. (`clerkrelay.cli.main` finds the server's commands by
  importing `relay.flags` by name when it is installed: a plug-in point, not an
  import statement.)
- The client library outside `clerkrelay.cli` never imports the command line.
- `gateway` and `service` never import `relay` (the processes' wiring), the
  command line, or `console`; `console` (the operator's pages) never imports
  `relay` or the command line.

Every module is read with `ast`, so an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.processes import ROOT

CLIENT = ROOT / "clients" / "python"


def _modules(package: Path, base: Path) -> dict[str, Path]:
    """Every module of a package: dotted name → file."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """The dotted names a module imports (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            imported.add(module)
            imported.update(f"{module}.{alias.name}" for alias in node.names)
    return imported


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


MODULES = {
    **_modules(CLIENT / "clerkrelay", CLIENT),
    **{
        name: path
        for package in ("gateway", "service", "relay", "console")
        for name, path in _modules(ROOT / package, ROOT).items()
    },
}

RULES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    # (importer, may not import, except when the importer is within)
    ("clerkrelay", ("gateway", "service", "relay", "console"), ()),
    ("clerkrelay", ("clerkrelay.cli",), ("clerkrelay.cli",)),
    ("gateway", ("relay", "clerkrelay.cli", "console"), ()),
    ("service", ("relay", "clerkrelay.cli", "console"), ()),
    ("console", ("relay", "clerkrelay.cli"), ()),
]


def test_every_package_is_walked() -> None:
    for package in ("clerkrelay", "clerkrelay.cli", "gateway", "service", "relay", "console"):
        assert package in MODULES, package
    assert "relay.commands" in MODULES
    assert "clerkrelay.cli.tail" in MODULES


@pytest.mark.parametrize(("importer", "forbidden", "exempt"), RULES)
def test_imports_point_one_way(
    importer: str, forbidden: tuple[str, ...], exempt: tuple[str, ...]
) -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if _within(name, importer) and not any(_within(name, e) for e in exempt)
        for target in _imports(name, path)
        if any(_within(target, f) for f in forbidden)
    )
    assert wrong == []


def test_the_walk_sees_imports() -> None:
    """The rules are not vacuous: the server's commands do import the client's CLI and gateway."""
    imported = _imports("relay.commands", MODULES["relay.commands"])
    assert any(_within(name, "clerkrelay.cli") for name in imported)
    assert any(_within(name, "gateway") for name in imported)
