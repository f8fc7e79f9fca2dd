"""Dependencies: every third-party module the service imports is a declared runtime requirement,
the locks pin what the requirement files ask for (with hashes, torch left out), and the
installers use the locks."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT

RUNTIME_CODE = [
    *sorted((ROOT / "service").rglob("*.py")),
    ROOT / "scripts" / "fetch_models.py",
    ROOT / "scripts" / "convert_models.py",
]
"""What runs in production: the service, and the scripts it tells users to run."""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\;]+)")


def imported_modules(source: str) -> set[str]:
    """Top-level names of every absolute import in `source`, wherever it sits (in a function,
    under TYPE_CHECKING): all of them must be installable from the requirements."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def third_party(modules: Iterable[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m != "service"}


def requirement_names(path: Path) -> dict[str, Requirement]:
    """The requirements a requirements file names itself (not those of files it includes)."""
    found: dict[str, Requirement] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        found[canonicalize_name(requirement.name)] = requirement
    return found


def undeclared(
    modules: Iterable[str], declared: Iterable[str], distributions: dict[str, list[str]]
) -> dict[str, str]:
    """Module -> why it is not covered: the distributions providing it that no requirement
    names, or `not installed`."""
    declared = set(declared)
    missing: dict[str, str] = {}
    for module in sorted(modules):
        providers = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not providers:
            missing[module] = "not installed"
        elif not providers & declared:
            missing[module] = f"from {', '.join(sorted(providers))}, not in requirements.txt"
    return missing


def lock_pins(path: Path) -> dict[str, tuple[str, int]]:
    """Package -> (pinned version, number of hashes) in a pip-compile lock."""
    pins: dict[str, tuple[str, int]] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), 0)
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        elif not line.startswith(" "):
            current = None
    return pins


@pytest.fixture(scope="module")
def runtime_modules() -> set[str]:
    modules: set[str] = set()
    for path in RUNTIME_CODE:
        modules |= imported_modules(path.read_text(encoding="utf-8"))
    return third_party(modules)


@pytest.fixture(scope="module")
def distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def test_every_third_party_import_of_the_service_is_a_runtime_requirement(
    runtime_modules: set[str], distributions: dict[str, list[str]]
) -> None:
    declared = requirement_names(ROOT / "requirements.txt")
    assert {"fastapi", "httpx", "ctranslate2"} <= runtime_modules, "the scan found the imports"
    assert undeclared(runtime_modules, declared, distributions) == {}


def test_the_check_names_a_module_that_only_arrives_through_another_package(
    runtime_modules: set[str], distributions: dict[str, list[str]]
) -> None:
    """httpx came through huggingface_hub until its release that dropped it (issue 8): with
    httpx left out of the requirements the check must point at it."""
    declared = set(requirement_names(ROOT / "requirements.txt")) - {"httpx"}
    assert undeclared(runtime_modules, declared, distributions) == {
        "httpx": "from httpx, not in requirements.txt"
    }
    assert undeclared({"surely_not_installed_anywhere"}, declared, distributions) == {
        "surely_not_installed_anywhere": "not installed"
    }


def test_imports_inside_functions_count() -> None:
    source = "import os\ndef f():\n    from yaml import safe_load\n    from . import sibling\n"
    assert third_party(imported_modules(source)) == {"yaml"}


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_the_lock_pins_every_requirement_with_hashes(requirements: str, lock: str) -> None:
    pins = lock_pins(ROOT / lock)
    for name, requirement in requirement_names(ROOT / requirements).items():
        if name == "torch":
            continue
        assert name in pins, f"{name} is not in {lock}: run scripts/lock.sh"
        version = pins[name][0]
        assert requirement.specifier.contains(Version(version), prereleases=True), (
            f"{lock} pins {name}=={version}, outside {requirement}: run scripts/lock.sh"
        )
    unhashed = sorted(name for name, (_, hashes) in pins.items() if hashes == 0)
    assert unhashed == []


def test_the_dev_lock_holds_the_runtime_lock_unchanged() -> None:
    runtime = lock_pins(ROOT / "requirements.lock")
    dev = lock_pins(ROOT / "requirements-dev.lock")
    differ = {
        name: (version, dev.get(name, ("missing", 0))[0])
        for name, (version, _) in runtime.items()
        if dev.get(name, ("missing", 0))[0] != version
    }
    assert differ == {}, "run scripts/lock.sh"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_torch_and_this_machine_stay_out_of_the_lock(lock: str) -> None:
    text = (ROOT / lock).read_text(encoding="utf-8")
    assert "torch" not in lock_pins(ROOT / lock), "torch is installed on its own, first"
    assert re.search(r"^# torch$", text, re.MULTILINE), "pip-compile --unsafe-package torch"
    for local in ("file://", "/opt/", "--find-links", "--index-url", "--extra-index-url", "+cpu"):
        assert local not in text, f"{lock} refers to this machine's package sources ({local})"


def test_torch_is_pinned_once_and_installed_first_from_that_pin() -> None:
    pins = [
        line for line in (ROOT / "requirements.txt").read_text().splitlines() if "torch" in line
    ]
    torch_lines = [line for line in pins if line.startswith("torch")]
    assert len(torch_lines) == 1
    assert re.fullmatch(r"torch==\d+\.\d+\.\d+", torch_lines[0])
    for script in ("Dockerfile", "scripts/serve.sh", "scripts/test.sh", "scripts/check_runtime.sh"):
        text = (ROOT / script).read_text(encoding="utf-8")
        assert "torch==" not in text.replace("^torch==", ""), f"{script} repeats the torch pin"
        assert "^torch==" in text, f"{script} installs torch from the requirements.txt pin"


@pytest.mark.parametrize(
    ("installer", "lock"),
    [
        ("Dockerfile", "requirements.lock"),
        ("scripts/serve.sh", "requirements.lock"),
        ("scripts/check_runtime.sh", "requirements.lock"),
        ("scripts/test.sh", "requirements-dev.lock"),
    ],
)
def test_installers_install_from_the_lock(installer: str, lock: str) -> None:
    text = (ROOT / installer).read_text(encoding="utf-8")
    assert f"--require-hashes -r {lock}" in text
    assert not re.search(r"-r requirements(-dev)?\.txt", text), "the lock, not the loose file"


def test_ci_checks_the_runtime_set_after_the_tests() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/check_runtime.sh" in ci
    assert ci.index("scripts/test.sh") < ci.index("scripts/check_runtime.sh")
