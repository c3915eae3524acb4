"""cephmark.util: atomic writes (permissions, clean-up on failure), bool parsing, extensions."""
from __future__ import annotations

import os
import stat

import pytest

from cephmark.util import (FALSE_WORDS, IMAGE_EXTENSIONS, TRUE_WORDS, atomic_open, atomic_write_bytes,
                           atomic_write_text, current_umask, file_mode, parse_bool)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_atomic_write_replaces_and_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    atomic_write_text(target, "one\r\n")
    atomic_write_text(target, "two\n")
    assert target.read_bytes() == b"two\n"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_atomic_write_mode_follows_umask_like_open(tmp_path, umask_027):
    assert current_umask() == 0o027
    assert file_mode() == 0o640
    plain = tmp_path / "plain"
    plain.write_text("x")  # what open() gives
    atomic = atomic_write_text(tmp_path / "atomic", "x")
    assert _mode(atomic) == _mode(plain) == 0o640


def test_atomic_write_default_umask_gives_readable_file(tmp_path):
    old = os.umask(0o022)
    try:
        assert _mode(atomic_write_bytes(tmp_path / "f", b"x")) == 0o644
    finally:
        os.umask(old)


def test_failure_keeps_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "keep.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(target, "w") as fh:
            fh.write("half-written")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_failure_on_new_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(tmp_path / "new.bin") as fh:
            fh.write(b"x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_open_rejects_read_and_append_modes(tmp_path):
    for mode in ("r", "a", "wb+"):
        with pytest.raises(ValueError, match="mode"):
            with atomic_open(tmp_path / "x", mode):
                pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("word", sorted(TRUE_WORDS) + ["TRUE", " Yes ", "On"])
def test_parse_bool_true(word):
    assert parse_bool(word) is True


@pytest.mark.parametrize("word", sorted(FALSE_WORDS) + ["FALSE", " No ", "Off"])
def test_parse_bool_false(word):
    assert parse_bool(word) is False


def test_parse_bool_defaults_and_errors():
    assert parse_bool(True) is True and parse_bool(False) is False
    assert parse_bool(1) is True and parse_bool(0) is False
    assert parse_bool(None, True) is True and parse_bool("", False) is False and parse_bool("  ", True) is True
    for bad in ("maybe", "2", "truee", "-1"):
        with pytest.raises(ValueError, match="not a boolean"):
            parse_bool(bad, False)
    with pytest.raises(ValueError, match="not a boolean"):
        parse_bool(None)


def test_image_extensions_are_lower_case_suffixes_shared_by_io():
    from cephmark.io import image

    assert all(e.startswith(".") and e == e.lower() for e in IMAGE_EXTENSIONS)
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"} == set(IMAGE_EXTENSIONS)
    assert image.IMAGE_EXTENSIONS is IMAGE_EXTENSIONS


def test_no_other_copies_of_the_shared_helpers():
    """The helpers live in util.py only: no other module writes a temporary file and renames it
    over its target (mkstemp + os.replace) or spells out its own boolean words. (Streaming
    results to a kept ``.partial`` file, renamed when complete, is another policy.)"""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sources = [p for d in ("lib", "monailabel_app") for p in (root / d).rglob("*.py")]
    offenders = []
    for p in sources:
        if p.name == "util.py" and p.parent.name == "cephmark":
            continue
        text = p.read_text(encoding="utf-8")
        temp_then_rename = "os.replace(" in text and ("mkstemp(" in text or "NamedTemporaryFile(" in text)
        if temp_then_rename or '"yes", "y", "on"' in text or "(\"1\", \"true\", \"yes\")" in text:
            offenders.append(str(p.relative_to(root)))
    assert offenders == []
