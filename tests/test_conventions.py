"""Lint-as-test: the project's conventions, checked on every run."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys

import freshrec
from tests.conftest import REPO_ROOT


def _readme_commands() -> list[str]:
    setup = (
        REPO_ROOT.joinpath("README.md").read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]
    )
    return re.findall(r"```bash\n(.*?)\n```", setup, flags=re.S)


def test_readme_has_exactly_two_setup_commands():
    commands = _readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("freshrec demo")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = REPO_ROOT.joinpath(".ci", "run").read_text()
    steps = [step.strip() for step in _readme_commands()[1].split("&&")]
    for step in steps:
        assert step in ci, f"README step {step!r} is not in .ci/run"


def test_import_freshrec_is_light():
    heavy = "('fastapi', 'gymnasium', 'sentence_transformers', 'torch')"
    code = (
        "import sys, freshrec, freshrec.data, freshrec.models; "
        f"print(sorted(m for m in {heavy} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _public_objects():
    for info in pkgutil.walk_packages(freshrec.__path__, "freshrec."):
        if ".cli" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == info.name:
                yield f"{info.name}.{name}", obj


def test_public_classes_and_functions_have_examples():
    missing = [
        name
        for name, obj in _public_objects()
        if "Examples" not in (obj.__doc__ or "")
        and not (inspect.isclass(obj) and issubclass(obj, Exception))
    ]
    assert not missing, f"public objects without an Examples section: {missing}"


def _argument_limit(cls: type) -> int:
    """10 arguments; a deep model may take 16: its architecture plus the shared optimisation
    settings (n_epochs, lr, l2, batch_size, patience, threshold, device, seed), and a
    sequential one 19 (its popularity_prior, a scoring setting every sequential model shares,
    an lr_schedule and a training precision)."""
    from freshrec.models.torch.sequential import SequentialRecommender
    from freshrec.models.torch.torch_base import TorchRecommender

    if issubclass(cls, SequentialRecommender):
        return 19
    return 16 if issubclass(cls, TorchRecommender) else 10


def test_constructors_take_few_arguments():
    crowded = [
        name
        for name, obj in _public_objects()
        if inspect.isclass(obj)
        and len(inspect.signature(obj.__init__).parameters) - 1 > _argument_limit(obj)
    ]
    assert not crowded, f"constructors with too many arguments: {crowded}"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO_ROOT, capture_output=True, text=True
    )


def test_package_type_checks_strictly():
    result = _run("mypy", "freshrec")  # strict = true in pyproject.toml
    assert result.returncode == 0, result.stdout


def test_code_is_lint_clean():
    result = _run("ruff", "check", "freshrec", "tests", "benchmarks", "examples")
    assert result.returncode == 0, result.stdout
