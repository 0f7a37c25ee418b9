"""omnitenant's top-level modules and packages share only public names.

A part of the package (``omnitenant.context``, ``omnitenant.lookup``, ``omnitenant.patches``...)
may use its own private names and modules; another part must not import them
(``from omnitenant.x import _name``, ``import omnitenant.x._y``) or reach them as attributes
(``x._name``). Ruff's SLF001 sees only the attribute form, and not through module aliases.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import omnitenant

ROOT = Path(omnitenant.__file__).parent


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _unit(module: str) -> str:
    """The top-level module or package of omnitenant that ``module`` belongs to."""
    return ".".join(module.split(".")[:2])


def _is_module(dotted: str, root: Path = ROOT) -> bool:
    path = root.joinpath(*dotted.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _crosses(own: str, target: str) -> bool:
    return target.split(".")[0] == ROOT.name and _unit(target) != _unit(own)


def violations(source: str, module: str, *, is_package: bool = False, root: Path = ROOT) -> list:
    """Each private name of another part of omnitenant that ``source`` (``module``) uses."""
    found = []
    modules: dict[str, str] = {}  # local name -> the omnitenant module it is bound to
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _crosses(module, alias.name) and any(map(_is_private, alias.name.split("."))):
                    found.append((node.lineno, f"import {alias.name}"))
                if alias.name.split(".")[0] == root.name:
                    local = alias.asname or alias.name.split(".")[0]
                    modules[local] = alias.name if alias.asname else root.name
        elif isinstance(node, ast.ImportFrom):
            source_module = _absolute(node, module, is_package)
            if not _crosses(module, source_module):
                if source_module.split(".")[0] == root.name:
                    for alias in node.names:
                        if _is_module(f"{source_module}.{alias.name}", root):
                            modules[alias.asname or alias.name] = f"{source_module}.{alias.name}"
                continue
            if any(map(_is_private, source_module.split("."))):
                found.append((node.lineno, f"from {source_module} import ..."))
                continue
            for alias in node.names:
                if _is_private(alias.name):
                    found.append((node.lineno, f"from {source_module} import {alias.name}"))
                elif _is_module(f"{source_module}.{alias.name}", root):
                    modules[alias.asname or alias.name] = f"{source_module}.{alias.name}"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain = []
        value: ast.expr = node
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if not isinstance(value, ast.Name) or value.id not in modules:
            continue
        owner = modules[value.id]
        for attr in reversed(chain):
            if _is_private(attr) and _crosses(module, owner):
                found.append((node.lineno, f"{owner}.{attr}"))
                break
            if not _is_module(f"{owner}.{attr}", root):
                break
            owner = f"{owner}.{attr}"
    return sorted(set(found))


SOURCES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_module_uses_no_private_name_of_another_part(path):
    module = _module_name(path)
    found = violations(path.read_text(), module, is_package=path.name == "__init__.py")
    assert not found, f"{module} uses private names of other parts of omnitenant: {found}"


@pytest.mark.parametrize(
    "source",
    [
        "from omnitenant.context import _current",
        "from omnitenant.lookup import _stamp",
        "from omnitenant.lookup._stamp import STAMP_KEY",
        "import omnitenant.lookup._stamp",
        "import omnitenant.lookup._stamp as stamp",
        "from omnitenant import lookup\nlookup._cache.clear()",
        "from omnitenant import context as c\nc._current.get()",
        "import omnitenant\nomnitenant.lookup._stamp.read_stamp()",
        "import omnitenant.lookup as lk\nlk._cache",
        "from ..lookup import _stamp",
        "from ..patches.cache import _backends",
    ],
)
def test_each_form_of_crossing_is_caught(source):
    assert violations(source, "omnitenant.management.runner")


@pytest.mark.parametrize(
    "source",
    [
        "from omnitenant.lookup import tenant_by_id",
        "from omnitenant import lookup\nlookup.invalidate()",
        "from omnitenant.context import TenantContext\nTenantContext._x",  # not a module
        "import omnitenant.management.wrapping as w\nw._private",  # own package
        "from . import wrapping\nwrapping._private",
        "model._meta.label",
    ],
)
def test_public_names_and_own_privates_pass(source):
    assert not violations(source, "omnitenant.management.runner")
