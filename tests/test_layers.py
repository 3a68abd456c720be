"""Dependencies run one way: geo <- collectors <- service core <- publishers <- web layer & CLI (and tools).

Every module's imports are read with `ast` (absolute and relative, at module level, inside
functions and under TYPE_CHECKING), so a lazy import cannot hide an upward dependency.
"""
from __future__ import annotations

import ast
import graphlib
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("geo", "collectors", "service", "publishers", "simulator")
# Lowest first. A module may import its own layer or a lower one, never a higher one.
LAYERS = {0: "geo", 1: "collectors", 2: "service core", 3: "publishers", 4: "web layer, CLI and tools"}
# The parts that compose the others: the aiohttp app and its routes, the `bosai` CLI, the simulator.
COMPOSERS = ("service.web", "service.cli", "simulator")


def layer_unit(module: str) -> str:
    """The package a module belongs to for the direction check: geo, collectors, service (core), publishers,
    service.web (with the CLI), simulator."""
    for top in ("service.web", "service.cli"):
        if module == top or module.startswith(top + "."):
            return "service.web"
    return module.split(".")[0]


def layer_of(module: str) -> int:
    """The layer of a module of this project (0 = geo ... 4 = what composes the rest)."""
    if any(module == c or module.startswith(c + ".") for c in COMPOSERS):
        return 4
    return {"geo": 0, "collectors": 1, "service": 2, "publishers": 3}[module.split(".")[0]]


def module_name(path: Path) -> str:
    """`service/web/app.py` -> `service.web.app`; a package's `__init__.py` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every module of the five packages, by dotted name."""
    return {module_name(p): p for top in PACKAGES for p in sorted((ROOT / top).rglob("*.py"))}


def imports_of(module: str, source: str, is_package: bool, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported project module) for every import statement anywhere in `source`."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):  # every statement: function bodies and `if TYPE_CHECKING:` too
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . / from ..x
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from service import metrics` imports the module service.metrics, not just the package.
            submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            found += [(node.lineno, m) for m in submodules] or [(node.lineno, target)]
    return [(line, name) for line, name in found if name.split(".")[0] in PACKAGES]


def all_imports() -> list[tuple[str, int, str]]:
    """(importing module, line, imported module) over the whole tree."""
    modules = project_modules()
    known = set(modules)
    edges = []
    for name, path in modules.items():
        for line, target in imports_of(name, path.read_text(encoding="utf-8"), path.name == "__init__.py", known):
            edges.append((name, line, target))
    return edges


def upward(edges: list[tuple[str, int, str]]) -> list[str]:
    """Each import of a higher layer, named: file, line, what it imports and both layers."""
    found = []
    for importer, line, target in edges:
        if layer_of(target) > layer_of(importer):
            path = importer.replace(".", "/")
            found.append(f"{path} line {line}: imports {target} ({LAYERS[layer_of(target)]}) "
                         f"from {LAYERS[layer_of(importer)]}")
    return found


def package_cycles(edges: list[tuple[str, int, str]]) -> list[list[str]]:
    """An import cycle between the packages (geo, collectors, service core, publishers, service.web,
    simulator), as its packages; empty when there is none."""
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, _, target in edges:
        a, b = layer_unit(importer), layer_unit(target)
        if a != b:
            graph[a].add(b)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return [sorted(set(exc.args[1]))]
    return []


def test_no_module_imports_a_higher_layer():
    """geo <- collectors <- service core <- publishers <- service.web / service.cli / simulator."""
    edges = all_imports()
    assert len({e[0] for e in edges}) > 100, "the walk found too few modules: is ROOT right?"
    offending = upward(edges)
    assert not offending, "imports against the direction of the layers:\n" + "\n".join(offending)


def test_no_import_cycle_between_packages():
    """No package reaches itself back through another one."""
    cycles = package_cycles(all_imports())
    assert not cycles, "import cycles between packages: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_walk_sees_hidden_and_relative_imports():
    """The checker finds an upward import however it is written (so it can fail)."""
    known = {"publishers.portal_snapshot", "publishers.cap", "service.web.app", "service.web", "collectors.base"}
    source = textwrap.dedent("""
        from typing import TYPE_CHECKING
        from . import base
        if TYPE_CHECKING:
            from publishers.portal_snapshot import PortalSnapshot
        def later():
            import service.web.app
            from ..publishers import cap
    """)
    edges = [("collectors.thing", line, t) for line, t in imports_of("collectors.thing", source, False, known)]
    assert {t for _, _, t in edges} == {"collectors.base", "publishers.portal_snapshot", "service.web.app",
                                       "publishers.cap"}
    assert len(upward(edges)) == 3
    assert upward([("publishers.push", 1, "service.settings")]) == []
    assert upward([("service.settings", 7, "publishers.rules")]) == [
        "service/settings line 7: imports publishers.rules (publishers) from service core"]


@pytest.mark.parametrize(("module", "layer"), [
    ("geo.store.sqlite", 0), ("collectors.jma.atom", 1), ("service.pipeline", 2), ("service.freshness", 2),
    ("publishers.portal.pages", 3), ("service.web.app", 4), ("service.cli", 4), ("simulator.server", 4),
])
def test_layer_assignment(module, layer):
    """Each part of the tree sits in the layer the design names."""
    assert layer_of(module) == layer


def test_cycle_check_finds_a_cycle():
    """A package that imports back the package importing it is reported."""
    edges = [("service.pipeline", 1, "publishers.rules"), ("publishers.push", 2, "service.settings"),
             ("geo.model", 3, "geo.codes")]
    assert package_cycles(edges) == [["publishers", "service"]]


def test_every_module_is_walked():
    """Modules under subpackages (geo.store, collectors.jma, publishers.portal, service.web) are included."""
    names = set(project_modules())
    for expected in ("geo.store.base", "collectors.jma.atom", "publishers.portal.pages", "service.web.app",
                     "service.cli", "simulator.server"):
        assert expected in names
    by_package: dict[str, int] = defaultdict(int)
    for name in names:
        by_package[name.split(".")[0]] += 1
    assert all(by_package[p] > 0 for p in PACKAGES)
