"""pyproject.toml: real dependencies with requirements.txt's pins, package data that exists."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].lower().replace("_", "-")


def _requirements() -> dict[str, str]:
    """Pins of requirements.txt and of the optional requirements-fast.txt (the openvino extra)."""
    lines = [ln for f in ("requirements.txt", "requirements-fast.txt")
             for ln in (ROOT / f).read_text().splitlines()]
    reqs = [ln.split("#")[0].strip() for ln in lines]
    return {_name(r): r for r in reqs if r and not r.startswith("-")}


def test_dependencies_carry_the_requirements_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    pinned = _requirements()
    by_name = {_name(d): d for d in declared}
    assert len(by_name) == len(declared), "a dependency is declared twice"
    for name, spec in by_name.items():
        if name in ("torch", "torchvision"):  # installed first, CPU or CUDA build (see setup_env.sh)
            continue
        assert pinned.get(name) == spec, f"pyproject {spec!r} vs requirements.txt {pinned.get(name)!r}"
    missing = set(pinned) - set(by_name)
    assert not missing, f"in requirements.txt but not in pyproject.toml: {sorted(missing)}"
    run_time = {_name(d) for d in project["dependencies"]}
    assert {"torch", "monai", "timm", "pydicom", "opencv-python-headless", "numpy"} <= run_time


def test_package_data_patterns_match_files():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    where = ROOT / setuptools["packages"]["find"]["where"][0]
    for package, patterns in setuptools["package-data"].items():
        base = where / package.replace(".", "/")
        for pattern in patterns:
            assert list(base.glob(pattern)), f"package-data {package}: {pattern!r} matches nothing"
