"""DICOMweb source for batch inference: find radiograph series (QIDO-RS), fetch them (WADO-RS),
tell which already carry cephmark's SR, store SRs back (STOW-RS). Uses dicomweb-client.

Series are found by study/series UIDs or by a query: modality (default DX, CR, SC) and a study
date range (``YYYYMMDD-YYYYMMDD``, either end open). Instances are fetched in the transfer
syntax they are stored in (``transfer-syntax=*``) and written to a cache folder as DICOM files,
which the ordinary file pipeline then reads.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from pydicom.dataset import Dataset

__all__ = ["SeriesRef", "DicomwebError", "connect", "find_series", "fetch_series", "series_with_our_sr",
           "store", "instance_url", "label_srs", "DEFAULT_MODALITIES"]

DEFAULT_MODALITIES = ("DX", "CR", "SC")
_DATE_RANGE = re.compile(r"^(\d{8})?-(\d{8})?$|^\d{8}$")
_ANY_SYNTAX = (("application/dicom", "*"),)


class DicomwebError(ValueError):
    """A DICOMweb request failed; the message names the server and the request (a ValueError,
    so the CLI reports it as one line, as it does bad input)."""


@dataclass(frozen=True)
class SeriesRef:
    study: str
    series: str
    modality: str = ""
    description: str = ""
    instances: int = 0  # Number of Series Related Instances, as the server reports it


def connect(url: str):
    """A dicomweb-client for ``url`` (e.g. ``http://127.0.0.1:8042/dicom-web``)."""
    from dicomweb_client import DICOMwebClient

    return DICOMwebClient(url=url.rstrip("/"))


def _value(entry: dict, tag: str) -> str:
    values = (entry.get(tag) or {}).get("Value") or [""]
    return str(values[0])


def _call(client, what: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # requests' HTTPError, connection errors, parse errors
        raise DicomwebError(f"{client.base_url}: {what} failed ({type(exc).__name__}: {exc})") from exc


def check_date_range(dates: str | None) -> str | None:
    if dates and not _DATE_RANGE.match(dates):
        raise ValueError(f"study date range must be YYYYMMDD, YYYYMMDD-YYYYMMDD, -YYYYMMDD or YYYYMMDD-, "
                         f"not {dates!r}")
    return dates or None


def find_series(client, studies: Sequence[str] = (), series: Sequence[str] = (),
                modalities: Sequence[str] = DEFAULT_MODALITIES, study_dates: str | None = None) -> list[SeriesRef]:
    """Series to process, in server order, each once. Given series UIDs are taken whatever their
    modality; otherwise series of ``modalities`` (within ``studies`` / ``study_dates`` if given)."""
    found: dict[str, SeriesRef] = {}
    fields = ["Modality", "SeriesDescription", "StudyInstanceUID", "SeriesInstanceUID",
              "NumberOfSeriesRelatedInstances"]

    def add(entries: Iterable[dict]) -> None:
        for e in entries:
            ref = SeriesRef(_value(e, "0020000D"), _value(e, "0020000E"), _value(e, "00080060"),
                            _value(e, "0008103E"), int(_value(e, "00201209") or 0))
            found.setdefault(ref.series, ref)

    if series:
        for uid in series:
            hits = _call(client, f"QIDO series {uid}", client.search_for_series,
                         search_filters={"SeriesInstanceUID": uid}, fields=fields, get_remaining=True)
            if not hits:
                raise DicomwebError(f"{client.base_url}: series {uid} not found")
            add(hits)
        return list(found.values())
    filters: dict[str, str] = {}
    if check_date_range(study_dates):
        filters["StudyDate"] = study_dates
    for study in studies or [None]:
        for modality in modalities:
            where = f"QIDO series (modality {modality}{', study ' + study if study else ''})"
            add(_call(client, where, client.search_for_series, study_instance_uid=study,
                      search_filters={**filters, "Modality": modality}, fields=fields, get_remaining=True))
    return list(found.values())


def fetch_series(client, ref: SeriesRef, folder: str | Path) -> list[Path]:
    """Download every instance of a series into ``folder`` as ``<SOPInstanceUID>.dcm``."""
    from cephmark.util import atomic_open

    datasets = _call(client, f"WADO-RS series {ref.series}", client.retrieve_series, ref.study, ref.series,
                     media_types=_ANY_SYNTAX)
    out = []
    for ds in datasets:
        path = Path(folder) / ref.series / f"{ds.SOPInstanceUID}.dcm"
        with atomic_open(path, "wb") as fh:
            ds.save_as(fh, write_like_original=False)
        out.append(path)
    return sorted(out)


def series_with_our_sr(client, study: str) -> set[str]:
    """Series of ``study`` referenced by an SR that cephmark wrote (Manufacturer ``cephmark``)."""
    from pydicom.dataset import Dataset as _Dataset

    from cephmark.io.sr import MANUFACTURER, sr_referenced_series

    done: set[str] = set()
    sr_series = _call(client, f"QIDO SR series of study {study}", client.search_for_series,
                      study_instance_uid=study, search_filters={"Modality": "SR"}, get_remaining=True)
    for entry in sr_series:
        for meta in _call(client, "WADO-RS SR metadata", client.retrieve_series_metadata, study,
                          _value(entry, "0020000E")):
            ds = _Dataset.from_json(meta)
            if str(ds.get("Manufacturer", "")) == MANUFACTURER:
                done |= sr_referenced_series(ds)
    return done


def store(client, datasets: Sequence[Dataset]) -> None:
    """STOW-RS; a failure for any instance raises :class:`DicomwebError`."""
    result = _call(client, "STOW-RS", client.store_instances, list(datasets))
    failed = result.get("FailedSOPSequence") if result is not None else None
    if failed:
        raise DicomwebError(f"{client.base_url}: STOW-RS refused {len(failed)} instance(s)")


def instance_url(client, ds: Dataset) -> str:
    """WADO-RS address of an instance, used as its name in results."""
    return (f"{client.base_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")


def _created(ds: Dataset) -> str:
    return "".join(str(ds.get(k, "")) for k in ("ContentDate", "ContentTime", "InstanceCreationDate",
                                                "InstanceCreationTime"))


def label_srs(client) -> dict[str, Dataset]:
    """Series UID -> the newest SR on the server that is a landmark *label* for it: one saved by
    another program (OHIF's "Create SR" after a user moved or added points) or cephmark's final
    label (series description :data:`cephmark.io.sr.FINAL_LABEL_DESCRIPTION`); cephmark's model
    output SRs are not labels. An SR whose points reference no known image is skipped."""
    from cephmark.io.sr import FINAL_LABEL_DESCRIPTION, MANUFACTURER, SRReadError, read_sr_landmarks

    best: dict[str, Dataset] = {}
    for entry in _call(client, "QIDO SR series", client.search_for_series,
                       search_filters={"Modality": "SR"}, get_remaining=True):
        study, series = _value(entry, "0020000D"), _value(entry, "0020000E")
        for meta in _call(client, f"WADO-RS SR metadata {series}", client.retrieve_series_metadata, study, series):
            ds = Dataset.from_json(meta)  # an SR's content is all in its metadata
            ours = str(ds.get("Manufacturer", "")) == MANUFACTURER
            if ours and str(ds.get("SeriesDescription", "")) != FINAL_LABEL_DESCRIPTION:
                continue  # a model's prediction, not a label
            try:
                got = read_sr_landmarks(ds)
            except SRReadError:
                continue
            target = got.referenced_series_uid
            if target is None and got.referenced_sop_instance_uid:  # no evidence list: ask the server
                hits = _call(client, "QIDO instance", client.search_for_instances, study_instance_uid=study,
                             search_filters={"SOPInstanceUID": got.referenced_sop_instance_uid})
                target = _value(hits[0], "0020000E") if hits else None
            if target and (target not in best or _created(ds) > _created(best[target])):
                best[target] = ds
    return best
