"""Package layout: light ``__init__`` files (modules import without MONAI) and no io import cycle."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib"
BLOCKED = ("monai", "pydicom", "SimpleITK", "highdicom", "yaml")

LIGHT = ["cephmark", "cephmark.config", "cephmark.inference.fast", "cephmark.inference.results",
         "cephmark.training.loss", "cephmark.training.decisions", "cephmark.transforms.affine",
         "cephmark.codecs", "cephmark.models.checkpoint", "cephmark.io.image", "cephmark.evaluation",
         "cephmark.annotations.types", "cephmark.util"]


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(LIB), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=300)


def test_light_modules_import_without_monai_pydicom_simpleitk_yaml():
    proc = _run(f"""
        import sys
        for name in {BLOCKED!r}:
            sys.modules[name] = None  # import -> ImportError
        import importlib
        for mod in {LIGHT!r}:
            importlib.import_module(mod)
        from cephmark.io import read_image  # a PNG needs neither pydicom nor MONAI
        import numpy as np, cv2, tempfile, os
        path = os.path.join(tempfile.mkdtemp(), "a.png")
        cv2.imwrite(path, np.full((8, 9), 7, np.uint8))
        assert read_image(path).pixels.shape == (8, 9, 3)
        heavy = sorted(m for m in {BLOCKED!r} if sys.modules.get(m) is not None)
        print("ok", heavy)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1] == "ok []"  # (timm may print that huggingface_hub lacks yaml)


def test_blocked_dependency_is_really_needed_by_the_heavy_modules():
    """The check above can fail: the predictor does need MONAI."""
    proc = _run("""
        import sys
        sys.modules["monai"] = None
        from cephmark.inference import LandmarkPredictor
    """)
    assert proc.returncode != 0 and "monai" in proc.stderr


def test_lazy_exports_resolve_and_list():
    import cephmark.inference as inference
    from cephmark.inference import LandmarkPredictor
    from cephmark.inference.predictor import LandmarkPredictor as direct

    assert LandmarkPredictor is direct and "LandmarkPredictor" in dir(inference)
    for name in inference.__all__:
        assert getattr(inference, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        inference.nope  # noqa: B018


def _imports(path: Path) -> set[str]:
    """Every cephmark module ``path`` imports, at any depth (lazy imports count too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("cephmark.")}


def test_io_modules_import_each_other_without_cycles():
    io_dir = LIB / "cephmark" / "io"
    graph = {f"cephmark.io.{p.stem}": {m for m in _imports(p) if m.startswith("cephmark.io.")}
             for p in io_dir.glob("*.py") if p.name != "__init__.py"}
    assert "cephmark.io.types" in graph and not graph["cephmark.io.types"]
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError("import cycle: " + " -> ".join(trail + [node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            visit(dep, trail + [node])
        state[node] = 2

    for node in sorted(graph):
        visit(node, [])
