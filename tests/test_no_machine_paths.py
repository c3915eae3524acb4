"""No tracked file names a machine path: a checkout elsewhere (another user, CI) must work.

Every tracked file is searched, binary ones (checkpoints) included, for an absolute path under
the two folders of the machine this project was developed on. Data locations come from
``tests/conftest.py`` (``../shared``) and, in scripts, from arguments or environment variables.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# spelled in pieces so that this file does not match itself
FOLDERS = ("wo" + "rk", "tm" + "p")
PATTERN = re.compile(rb"(?<![\w.~$/-])/(?:" + "|".join(FOLDERS).encode() + rb")(?![\w-])")


def machine_paths(data: bytes) -> list[str]:
    return [data[max(0, m.start() - 30):m.end() + 30].decode("utf-8", "replace")
            for m in PATTERN.finditer(data)]


def repository_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_pattern_finds_machine_paths_only():
    w, t = FOLDERS
    for hit in (f'p = Path("/{w}/shared/x")', f"--output /{t}/starter", f"IMAGES=/{w}/shared",
                f"(/{t})", f"--target /{t} .", f"'/{w}'"):
        assert machine_paths(hit.encode()), hit
    for miss in (f"runs/{t}/x", f"../shared/{w}/a", f"$HOME/{t}/a", f"/{w}space/a", f"/{t}fs",
                 f"https://example.org/{w}/x", f"./{t}/a", "/usr/share/orthanc"):
        assert not machine_paths(miss.encode()), miss
    assert machine_paths(b"\x00X\x0f\x00\x00\x00/" + t.encode() + b"/stage1.pth")  # a pickled string


def test_no_tracked_file_names_an_absolute_machine_path():
    files = repository_files()
    assert any(f.name == "conftest.py" for f in files)
    found = {}
    for path in files:
        if path.is_file() and not path.is_symlink():
            hits = machine_paths(path.read_bytes())
            if hits:
                found[str(path.relative_to(ROOT))] = hits
    assert not found, f"machine paths in tracked files (use ../shared via conftest, arguments or env): {found}"
