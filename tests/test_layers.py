"""The rooms stay apart: evaluation is pure, models import only the pure metrics from it.

``freshrec.evaluation`` takes models and events; building models by name and drawing reports
(matplotlib, rich, result folders) belong to ``freshrec.jobs``. Every import statement counts,
those inside functions included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "freshrec"


def _module(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(source: str, module: str, is_package: bool = False) -> Iterator[str]:
    """Every name an import statement of ``source`` reaches, as ``package.module.name``.

    ``from a import b`` gives ``a.b`` (``b`` may be a module or a name in ``a``); relative
    imports are resolved against ``module``.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _imports_under(folder: str) -> Iterator[tuple[str, str]]:
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        module = _module(path)
        for name in _imported(path.read_text(), module, path.name == "__init__.py"):
            yield module, name


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_import_scan_sees_imports_in_functions_and_relative_ones():
    source = "import rich.table\ndef f():\n    from ..models import bpr\n    from . import arena\n"
    assert list(_imported(source, "freshrec.evaluation.x")) == [
        "rich.table",
        "freshrec.models.bpr",
        "freshrec.evaluation.arena",
    ]


def test_evaluation_builds_no_models_by_name_and_draws_nothing():
    forbidden = ("freshrec.models", "freshrec.jobs", "matplotlib", "rich")
    found = [
        f"{module} imports {name}"
        for module, name in _imports_under("evaluation")
        if any(_within(name, prefix) for prefix in forbidden)
    ]
    assert not found, found


def test_models_take_only_the_pure_metrics_from_evaluation():
    found = [
        f"{module} imports {name}"
        for module, name in _imports_under("models")
        if _within(name, "freshrec.evaluation") and not _within(name, "freshrec.evaluation.metrics")
    ]
    assert not found, found
