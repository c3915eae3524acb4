"""Datastores for 2D cephalograms: safe ids, image extensions, DICOMweb for DX/CR/SC.

* Ids and label tags become file names: one holding a path separator, ``..``, or a NUL byte is
  refused (HTTP 400) before it reaches the file system.
* Local: PNG, JPEG, DICOM (.dcm/.dicom), BMP, TIFF and NIfTI/NRRD files in the studies folder.
* DICOMweb: series found by one QIDO search per modality (``--conf dicomweb_modalities``,
  default DX,CR,SC) instead of MONAI Label's CT filter. Final labels go back to the server as
  DICOM SEG when dcmqi's ``itkimage2segimage`` is on PATH (nothing is downloaded); otherwise they
  are kept in the local cache, with a warning.
* DICOM SR (``--conf dicomweb_store_sr``, default true): batch inference stores each series'
  landmarks as an SR (series "cephmark landmarks"); a final label is also stored as an SR
  (series "cephmark final label"); and an SR on the server that labels a series (cephmark's
  final label, or one OHIF saved after a user moved or added points, the newest first) is that
  series' final label: the series counts as labelled and training reads the SR.
"""
from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from fastapi import HTTPException
from pydicom.dataset import Dataset

from monailabel.datastore.dicom import DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.datastore import DefaultLabelTag

from cephmark.app import LabelRejected, check_label, load_app_image
from cephmark.app.geometry import VOLUME_SUFFIXES
from cephmark.util import IMAGE_EXTENSIONS

logger = logging.getLogger(__name__)

_SUFFIXES = IMAGE_EXTENSIONS + VOLUME_SUFFIXES  # what the app's image loader reads
DATASTORE_PATTERNS = [f"*{e}" for e in _SUFFIXES] + [f"*{e.upper()}" for e in _SUFFIXES]
# what a saved label file may end in (label maps, markups, SR): "<image id><suffix>"
LABEL_SUFFIXES = frozenset(_SUFFIXES + (".mrk.json", ".json", ".nhdr", ".mhd"))


def unsafe_reason(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "empty"
    if "/" in value or "\\" in value:
        return "contains a path separator"
    if value in (".", "..") or value.startswith(".."):
        return "is a relative path"
    if "\x00" in value:
        return "contains a NUL byte"
    return None


def check_id(value: Any, what: str = "image id") -> str:
    """``value`` if it is safe as a datastore id / file name, else HTTP 400."""
    reason = unsafe_reason(value)
    if reason:
        raise HTTPException(status_code=400, detail=f"refused {what} {value!r}: it {reason}")
    return value


def locked(method: Callable) -> Callable:
    """Run a datastore method under the datastore's lock (see FreshMixin)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return run


class FreshMixin:
    """Re-read ``datastore_v2.json`` when the file changed before answering or writing (a cheap
    mtime check): batch inference, scoring and training run in child processes that write it,
    and the server must neither show stale state nor overwrite their entries.

    Every read and write holds one re-entrant lock: a re-read replaces the in-memory datastore,
    so a thread saving a label while another re-reads (batch inference keeps two images in
    flight) would otherwise lose that label."""

    _lock = threading.RLock()

    def _fresh(self) -> None:
        with self._lock:
            self._init_from_datastore_file()

    def json(self):
        with self._lock:
            self._fresh()
            return super().json()

    def status(self) -> Dict[str, Any]:
        with self._lock:
            self._fresh()
            return super().status()

    def list_images(self) -> List[str]:
        with self._lock:
            self._fresh()
            return super().list_images()

    def get_labeled_images(self, label_tag: Optional[str] = None, labels: Optional[List[str]] = None) -> List[str]:
        with self._lock:
            self._fresh()
            return super().get_labeled_images(label_tag, labels)

    def get_unlabeled_images(self, label_tag: Optional[str] = None, labels: Optional[List[str]] = None) -> List[str]:
        with self._lock:
            self._fresh()
            return super().get_unlabeled_images(label_tag, labels)

    def get_image_info(self, image_id: str) -> Dict[str, Any]:
        with self._lock:
            self._fresh()
            return super().get_image_info(image_id)

    def get_label_info(self, label_id: str, label_tag: str) -> Dict[str, Any]:
        with self._lock:
            self._fresh()
            return super().get_label_info(label_id, label_tag)

    def update_image_info(self, image_id: str, info: Dict[str, Any]) -> None:
        with self._lock:
            self._fresh()
            return super().update_image_info(image_id, info)

    def update_label_info(self, label_id: str, label_tag: str, info: Dict[str, Any]) -> None:
        with self._lock:
            self._fresh()
            return super().update_label_info(label_id, label_tag, info)


class SafeLocalDatastore(FreshMixin, LocalDatastore):
    """MONAI Label's local datastore with id/tag checks on every write."""

    def add_image(self, image_id: str, image_filename: str, image_info: Dict[str, Any]) -> str:
        if image_id:
            check_id(image_id)
        with self._lock:
            self._fresh()
            return super().add_image(image_id, image_filename, image_info)

    @locked
    def remove_image(self, image_id: str) -> None:
        check_id(image_id)
        return super().remove_image(image_id)

    @locked
    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: Dict[str, Any]) -> str:
        check_id(image_id)
        check_id(label_tag, "label tag")
        self._fresh()
        if image_id not in self._datastore.objects:
            raise HTTPException(status_code=404, detail=f"image {image_id!r} is not in the datastore")
        check_uploaded_label(label_filename, self.get_image_uri(image_id), image_id, label_info)
        label_id = super().save_label(image_id, label_filename, label_tag, label_info)
        self._remove_other_extensions(image_id, label_tag)
        return label_id

    def _remove_other_extensions(self, image_id: str, label_tag: str) -> None:
        """A label saved as .mrk.json replaces an earlier .nii.gz of the same image (and so on):
        the datastore records one extension, so a file of another would linger unused."""
        folder = self._datastore.label_path(label_tag)
        keep = self._datastore.objects[image_id].labels[label_tag].info.get("name")
        for name in os.listdir(folder):
            suffix = name[len(image_id):].lower() if name.startswith(image_id + ".") else ""
            if name != keep and suffix in LABEL_SUFFIXES:
                os.unlink(os.path.join(folder, name))
                logger.info("label %s of %s replaced by %s: removed", name, image_id, keep)

    @locked
    def remove_label(self, label_id: str, label_tag: str) -> None:
        check_id(label_id, "label id")
        check_id(label_tag, "label tag")
        return super().remove_label(label_id, label_tag)

    def get_label_uri(self, label_id: str, label_tag: str) -> str:
        if unsafe_reason(label_id) or unsafe_reason(label_tag):
            return ""
        return super().get_label_uri(label_id, label_tag)


def check_uploaded_label(label_file: str, image_uri: str, image_id: str, label_info: Any) -> None:
    """HTTP 413 / 422 unless the uploaded label can serve as training data (see check_label)."""
    try:
        geometry = load_app_image(image_uri).geometry
    except Exception as exc:
        raise HTTPException(status_code=422, detail=f"image {image_id!r} cannot be read to check its label: "
                                                    f"{exc}") from exc
    mapping = label_info.get("label_info") or label_info.get("label_names") if isinstance(label_info, dict) else None
    try:
        check_label(label_file, geometry, mapping)
    except LabelRejected as exc:
        raise HTTPException(status_code=413 if exc.too_large else 422,
                            detail=f"label for image {image_id!r} refused: {exc}") from exc


def has_seg_tool() -> bool:
    return shutil.which("itkimage2segimage") is not None


class CephDICOMWebDatastore(FreshMixin, DICOMWebDatastore):
    """DICOMweb series of 2D radiographs (one instance each)."""

    def __init__(self, *args, modalities: List[str], list_ttl: float = 10.0, store_sr: bool = True,
                 sr_style: str = "standard", **kwargs) -> None:
        self._modalities = list(modalities)
        self._list_ttl = list_ttl
        self._list_cache: tuple[float, List[str]] | None = None
        self._sr_cache: tuple[float, Dict[str, Dataset]] | None = None
        self.store_sr = store_sr
        self.sr_style = sr_style
        super().__init__(*args, **kwargs)

    # -- DICOM SR in PACS --------------------------------------------------------------
    def _source_dicom(self, image_id: str) -> str:
        """The cached DICOM instance of a series (fetched if needed)."""
        from cephmark.app.geometry import dicom_files_in

        self.get_image_uri(image_id)
        files = dicom_files_in(os.path.join(self._datastore.image_path(), image_id))
        if len(files) != 1:
            raise ValueError(f"series {image_id}: expected one cached DICOM instance, found {len(files)}")
        return str(files[0])

    def _store_sr(self, image_id: str, landmarks: List[Any], description: str, model: Optional[str]) -> str:
        from cephmark.io.dicom import read_dataset
        from cephmark.io.dicomweb import store
        from cephmark.io.sr import build_sr

        sr = build_sr(read_dataset(self._source_dicom(image_id), stop_before_pixels=True), landmarks,
                      style=self.sr_style, model_name=model, series_description=description)
        store(self._client, [sr])
        self._sr_cache = None
        return str(sr.SOPInstanceUID)

    def store_result_sr(self, image_id: str, landmarks: List[Any], model: Optional[str] = None) -> str:
        """Store a model's landmarks for a series as an SR (batch inference)."""
        from cephmark.io.sr import SERIES_DESCRIPTION

        check_id(image_id)
        return self._store_sr(image_id, landmarks, SERIES_DESCRIPTION, model)

    def label_srs(self) -> Dict[str, Dataset]:
        """Series id -> the newest labelling SR on the server (see the module docstring)."""
        now = time.monotonic()
        if self._sr_cache is None or now - self._sr_cache[0] >= self._list_ttl:
            from cephmark.io.dicomweb import label_srs

            try:
                found = label_srs(self._client)
            except Exception as exc:
                logger.warning("DICOMweb: cannot search for SR labels: %s", exc)
                found = {}
            self._sr_cache = (now, found)
        return dict(self._sr_cache[1])

    def _sync_sr_labels(self) -> None:
        """Make each series' labelling SR its local final label (unless it already is)."""
        from cephmark.io.sr import sr_bytes
        from cephmark.util import atomic_write_bytes

        for image_id, sr in self.label_srs().items():
            if image_id not in self.list_images():
                continue
            uid = str(sr.SOPInstanceUID)
            info = LocalDatastore.get_label_info(self, image_id, DefaultLabelTag.FINAL) or {}
            if info.get("sr_sop_instance_uid") == uid:
                continue
            folder = tempfile.mkdtemp(prefix="label_sr_")
            try:
                self.get_image_uri(image_id)
                path = atomic_write_bytes(os.path.join(folder, f"{image_id}.dcm"), sr_bytes(sr))
                LocalDatastore.save_label(self, image_id, str(path), DefaultLabelTag.FINAL,
                                          {"sr_sop_instance_uid": uid, "source": "DICOM SR on the server",
                                           "manufacturer": str(sr.get("Manufacturer", ""))})
            except Exception as exc:  # one bad SR must not hide the other labels
                logger.warning("DICOMweb: SR %s (label of %s) not used: %s", uid, image_id, exc)
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    # -- listing ----------------------------------------------------------------------
    def list_images(self) -> List[str]:
        now = time.monotonic()
        if self._list_cache and now - self._list_cache[0] < self._list_ttl:
            return list(self._list_cache[1])
        series: List[str] = []
        for modality in self._modalities:
            for ds in self._client.search_for_series(search_filters={"Modality": modality}):
                uid = str(Dataset.from_json(ds)["SeriesInstanceUID"].value)
                if uid not in series:
                    series.append(uid)
        self._list_cache = (now, series)
        return list(series)

    def _local_final(self) -> List[str]:
        return LocalDatastore.get_labeled_images(self)

    def get_labeled_images(self, label_tag: Optional[str] = None, labels: Optional[List[str]] = None) -> List[str]:
        images = self.list_images()
        local = [i for i in self._local_final() if i in images]
        local += [i for i in self.label_srs() if i in images]
        try:
            remote = super().get_labeled_images(label_tag, labels)
        except Exception as exc:  # a server without SEG search support
            logger.warning("DICOMweb: cannot list SEG series: %s", exc)
            remote = []
        return sorted(set(local) | set(remote))

    def get_unlabeled_images(self, label_tag: Optional[str] = None, labels: Optional[List[str]] = None) -> List[str]:
        labeled = set(self.get_labeled_images(label_tag, labels))
        return [s for s in self.list_images() if s not in labeled]

    def status(self) -> Dict[str, Any]:
        images = self.list_images()
        labeled = self.get_labeled_images()
        return {"total": len(images), "completed": len(labeled), "label_tags": {}}

    # -- images and labels ------------------------------------------------------------
    def get_image_uri(self, image_id: str) -> str:
        check_id(image_id)
        uri = super().get_image_uri(image_id)
        # on first access MONAI Label returns its temporary conversion output (and leaves it
        # behind); the cached copy sits beside the downloaded DICOM folder, which the app
        # reads pixels and spacing from
        cached = os.path.realpath(os.path.join(self._datastore.image_path(), f"{image_id}.nii.gz"))
        if uri and uri != cached and os.path.isfile(cached):
            if os.path.dirname(uri) == tempfile.gettempdir():
                os.unlink(uri)
            return cached
        return uri

    def get_label_uri(self, label_id: str, label_tag: str, image_id: str = "") -> str:
        if unsafe_reason(label_id) or unsafe_reason(label_tag):
            return ""
        if label_tag != DefaultLabelTag.FINAL or LocalDatastore.get_label_uri(self, label_id, label_tag):
            return LocalDatastore.get_label_uri(self, label_id, label_tag)
        return super().get_label_uri(label_id, label_tag, image_id)

    @locked
    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: Dict[str, Any],
                   label_id: str = "") -> str:
        check_id(image_id)
        check_id(label_tag, "label tag")
        if label_tag == DefaultLabelTag.FINAL and self.store_sr:  # the final label goes to PACS as an SR
            from cephmark.app.geometry import load_app_image
            from cephmark.app.targets import label_points
            from cephmark.io.sr import FINAL_LABEL_DESCRIPTION
            from cephmark.landmarks import CLDETECTION_38

            geometry = load_app_image(self.get_image_uri(image_id)).geometry
            points = label_points(label_filename, geometry, label_info, CLDETECTION_38)
            landmarks = [{"name": n, "x": x, "y": y, "score": None, "found": True} for n, (x, y) in points.items()]
            try:
                sr_uid = self._store_sr(image_id, landmarks, FINAL_LABEL_DESCRIPTION, None)
            except Exception as exc:  # the label is still kept below; say it did not reach PACS
                logger.warning("DICOMweb: final label of %s not stored as SR: %s", image_id, exc)
            else:
                label_info = {**(label_info or {}), "sr_sop_instance_uid": sr_uid}
        if label_tag == DefaultLabelTag.FINAL and not has_seg_tool():
            logger.warning("DICOMweb: itkimage2segimage (dcmqi) is not on PATH: the final label of %s is "
                           "kept in the local cache only, not uploaded as DICOM SEG", image_id)
            self.get_image_uri(image_id)  # the series must be in the cache
            return LocalDatastore.save_label(self, image_id, label_filename, label_tag, label_info)
        return super().save_label(image_id, label_filename, label_tag, label_info, label_id)

    def datalist(self, full_path=True) -> List[Dict[str, Any]]:
        # MONAI Label's sync deletes cached final labels that have no SEG on the server: only
        # run it when labels are uploaded as SEG at all
        if has_seg_tool():
            try:
                self._download_labeled_data()
            except Exception as exc:
                logger.warning("DICOMweb: cannot fetch SEG labels: %s", exc)
        self._sync_sr_labels()
        return LocalDatastore.datalist(self, full_path)
