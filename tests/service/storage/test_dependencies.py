"""Dependencies inside `service.storage` run one way: the rest of the relay → storage, never back.

Read from the source (every `import`, at any depth, including the factory's
deferred ones), not from what happens to be loaded.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.processes import ROOT

STORAGE = Path(ROOT) / "service" / "storage"
BACKENDS = ("service.storage.sqlite", "service.storage.postgres")
FIRST_PARTY = ("service", "gateway", "clerkrelay", "bench", "tests")
# The only first-party code storage may build on: itself, the generated messages
# and the registry of entity kinds.
ALLOWED = ("service.storage", "clerkrelay.v1", "clerkrelay.kinds")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports: `from a.b import c` counts as `a.b` and `a.b.c`."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


MODULES = {_module_name(path): _imports(path) for path in sorted(STORAGE.rglob("*.py"))}


def test_every_storage_module_is_read() -> None:
    assert "service.storage.interface" in MODULES
    assert {"service.storage.sqlite.store", "service.storage.postgres.store"} <= set(MODULES)
    assert "service.storage.interface" in MODULES["service.storage.sqlite.store"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_storage_imports_nothing_of_the_server_the_servicers_the_gateway_or_the_cli(
    module: str,
) -> None:
    outside = sorted(
        name
        for name in MODULES[module]
        if name.split(".")[0] in FIRST_PARTY and not any(_within(name, a) for a in ALLOWED)
    )
    assert outside == []


@pytest.mark.parametrize("module", sorted(set(MODULES) - {"service.storage"}))
def test_storage_modules_import_each_other_not_the_public_surface(module: str) -> None:
    """`service.storage` is for the rest of the relay; inside, modules name their source."""
    assert "service.storage" not in MODULES[module]


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_do_not_import_each_other(backend: str) -> None:
    (other,) = set(BACKENDS) - {backend}
    crossing = {
        module: sorted(name for name in imports if _within(name, other))
        for module, imports in MODULES.items()
        if _within(module, backend)
    }
    assert crossing and all(names == [] for names in crossing.values()), crossing


@pytest.mark.parametrize(
    "module",
    sorted(
        module
        for module in MODULES
        if not any(_within(module, backend) for backend in BACKENDS)
        and module != "service.storage.factory"
    ),
)
def test_only_the_factory_knows_the_backends(module: str) -> None:
    """The interface and the parts both backends share never import a backend."""
    assert sorted(n for n in MODULES[module] if any(_within(n, b) for b in BACKENDS)) == []
