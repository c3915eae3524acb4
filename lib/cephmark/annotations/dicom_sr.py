"""DICOM SR label files (cephmark's, or saved by OHIF after a user moved or added points).

``path`` is one SR file or a folder searched recursively for SR files. Each SR's POINTs are
read with :func:`cephmark.io.sr.read_sr_landmarks` (OHIF's two-pair POINT: the arrow tip) and
tied to its image by the referenced SOP Instance UID: the DICOM image with that UID among the
files under ``image_dir`` (default: the SR's folder). Several SRs for one image: the newest
(ContentDate + ContentTime, then InstanceCreation) is used and the others are named in a warning.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from cephmark.annotations.types import AnnotationError, AnnotationSet, PendingImage, finalize

__all__ = ["read_dicom_sr", "is_dicom_sr", "find_sr_files"]

_SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."


def _header(path: Path):
    import pydicom

    try:
        return pydicom.dcmread(str(path), stop_before_pixels=True, force=True,
                               specific_tags=["Modality", "SOPClassUID", "SOPInstanceUID"])
    except Exception:  # not DICOM: not ours to judge here
        return None


def is_dicom_sr(path: str | Path) -> bool:
    """True for a DICOM file whose Modality is SR or whose SOP class is a Structured Report."""
    from cephmark.io import is_dicom

    p = Path(path)
    if not p.is_file() or not is_dicom(p):
        return False
    ds = _header(p)
    return ds is not None and (ds.get("Modality") == "SR" or str(ds.get("SOPClassUID", "")).startswith(_SR_CLASS_PREFIX))


def find_sr_files(folder: str | Path) -> list[Path]:
    """SR files under ``folder`` (recursive, sorted)."""
    return [p for p in sorted(Path(folder).rglob("*")) if p.is_file() and is_dicom_sr(p)]


def _images_by_uid(image_dir: Path) -> dict[str, Path]:
    from cephmark.io import list_images
    from cephmark.util import DICOM_EXTENSIONS, IMAGE_EXTENSIONS

    out: dict[str, Path] = {}
    for p in list_images([image_dir]):
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.suffix.lower() not in DICOM_EXTENSIONS:
            continue
        ds = _header(p)
        uid = ds.get("SOPInstanceUID") if ds is not None else None
        if uid and ds.get("Modality") != "SR":
            out.setdefault(str(uid), p)
    return out


def _created(path: Path) -> str:
    import pydicom

    ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    return "".join(str(ds.get(k, "")) for k in ("ContentDate", "ContentTime", "InstanceCreationDate",
                                                "InstanceCreationTime"))


def read_dicom_sr(path: str | Path, image_dir: str | Path | None = None) -> AnnotationSet:
    """Landmarks from one SR file or a folder of them (see the module docstring)."""
    from cephmark.io.sr import SRReadError, read_sr_landmarks

    path = Path(path)
    files = find_sr_files(path) if path.is_dir() else [path]
    if not files:
        raise AnnotationError(f"{path}: no DICOM SR file found")
    image_dir = Path(image_dir) if image_dir is not None else (path if path.is_dir() else path.parent)
    problems: list[str] = []
    reads = []
    for f in files:
        try:
            reads.append(read_sr_landmarks(f))
        except SRReadError as exc:
            problems.append(str(exc))
    by_uid = _images_by_uid(image_dir)
    newest: dict[str, list] = {}
    for r in reads:
        if r.referenced_sop_instance_uid is None:
            problems.append(f"{r.path}: its POINTs reference no image (no SELECTED FROM IMAGE)")
        elif r.referenced_sop_instance_uid not in by_uid:
            problems.append(f"{r.path}: the referenced image (SOP Instance UID {r.referenced_sop_instance_uid}) "
                            f"is not among the DICOM files in {image_dir}")
        else:
            newest.setdefault(r.referenced_sop_instance_uid, []).append(r)
    pending = []
    for uid, rs in newest.items():
        rs.sort(key=lambda r: _created(Path(r.path)))
        if len(rs) > 1:
            warnings.warn(f"{by_uid[uid]}: {len(rs)} SRs label this image; using the newest, {rs[-1].path} "
                          f"(not {', '.join(r.path for r in rs[:-1])})", stacklevel=2)
        r = rs[-1]
        pending.append(PendingImage(Path(r.path).name, by_uid[uid], dict(r.points), where=f"SR {r.path}"))
    return finalize(pending, str(path), problems)
