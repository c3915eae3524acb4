"""Where the CLI's images come from and where their SRs go: local files or a DICOMweb server.

``--dicomweb URL`` replaces the INPUT files: series are found by ``--study``/``--series`` UIDs or a
query (``--modality``, ``--study-date``), fetched one series ahead of the model (a background
thread) into a cache folder, and each result is named by its WADO-RS address. ``--store-sr``
stores one SR per image back (STOW-RS); a rerun skips series that already have cephmark's SR
(``--redo`` processes them again). ``--sr DIR`` writes the SR files locally (for DICOM inputs).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

from cephmark.cli.common import split_list

__all__ = ["add_source_options", "ImageSource"]


def add_source_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("DICOM SR and DICOMweb")
    g.add_argument("--sr", metavar="DIR", help="write a DICOM SR per DICOM image here (<image stem>.sr.dcm)")
    g.add_argument("--sr-style", choices=("standard", "ohif"), default="standard",
                   help="standard TID 1500 (default) or the form OHIF writes, editable in OHIF")
    g.add_argument("--dicomweb", metavar="URL", help="process series from this DICOMweb server instead of INPUT files")
    g.add_argument("--study", action="append", default=[], metavar="UID", help="with --dicomweb: a study (repeatable)")
    g.add_argument("--series", action="append", default=[], metavar="UID", help="with --dicomweb: a series (repeatable)")
    g.add_argument("--modality", default="DX,CR,SC", help="with --dicomweb: modalities searched (default DX,CR,SC)")
    g.add_argument("--study-date", metavar="RANGE", help="with --dicomweb: YYYYMMDD-YYYYMMDD (either end may be left open)")
    g.add_argument("--store-sr", action="store_true", help="with --dicomweb: store each image's SR back (STOW-RS)")
    g.add_argument("--redo", action="store_true", help="with --dicomweb: also series that already have cephmark's SR")
    g.add_argument("--cache", metavar="DIR", help="with --dicomweb: keep fetched instances here (default: a "
                   "temporary folder, removed at the end)")


class ImageSource:
    """Batches of image files to predict, and what to do with each result (SR, name)."""

    def __init__(self, args: argparse.Namespace, model_name: str | None = None):
        self.args = args
        self.model_name = model_name
        self.client = None
        self.skipped: list[str] = []  # series skipped because they already have our SR
        self.cache: Path | None = None  # where DICOMweb instances are fetched
        self._sr_pool: ThreadPoolExecutor | None = None
        self._sr_jobs: list[tuple[str, Any]] = []
        self.sr_failures: list[str] = []
        self.notes: list[str] = []
        if args.sr:  # outputs are checked before any inference
            from cephmark.cli.batch import writable_folder

            writable_folder(args.sr, "SR files")
        for noisy in ("dicomweb_client", "highdicom"):  # one INFO line per request / copied module
            logging.getLogger(noisy).setLevel(logging.WARNING)
        if args.dicomweb:
            if args.inputs:
                raise ValueError("give INPUT files or --dicomweb URL, not both")
            from cephmark.io.dicomweb import check_date_range, connect

            check_date_range(args.study_date)
            self.client = connect(args.dicomweb)
        else:
            if not args.inputs:
                raise ValueError("no INPUT files or folders given (or use --dicomweb URL)")
            for flag in ("study", "series", "study_date", "store_sr", "cache"):
                if getattr(args, flag):
                    raise ValueError(f"--{flag.replace('_', '-')} needs --dicomweb URL")

    # -- images ---------------------------------------------------------------------------------
    def plan(self) -> int:
        """Find the images (files, or series on the server, less those already done); their number."""
        if self.client is None:
            from cephmark.io import list_images

            self.paths = list_images(self.args.inputs)
            if not self.paths:
                raise ValueError(f"no image files found in {', '.join(self.args.inputs)}")
            return len(self.paths)
        from cephmark.io.dicomweb import find_series, series_with_our_sr

        refs = find_series(self.client, self.args.study, self.args.series,
                           split_list(self.args.modality) or (), self.args.study_date)
        if self.args.store_sr and not self.args.redo:
            done: dict[str, set[str]] = {}
            for ref in refs:
                if ref.study not in done:
                    done[ref.study] = series_with_our_sr(self.client, ref.study)
            self.skipped = [r.series for r in refs if r.series in done[r.study]]
            refs = [r for r in refs if r.series not in done[r.study]]
        self.refs = refs
        return sum(r.instances for r in refs)

    def images(self) -> Iterator[Path]:
        """Image files one by one: the INPUT files, or the DICOMweb series' instances as they
        are fetched (one series ahead, in a background thread)."""
        if self.client is None:
            yield from self.paths
            return
        from cephmark.io.dicomweb import fetch_series

        refs = self.refs
        if self.cache is None:
            self.cache = Path(self.args.cache) if self.args.cache else Path(tempfile.mkdtemp(prefix="cephmark-dicomweb-"))
        with ThreadPoolExecutor(max_workers=1) as pool:
            ahead = pool.submit(fetch_series, self.client, refs[0], self.cache) if refs else None
            for i in range(len(refs)):
                paths = ahead.result()
                ahead = pool.submit(fetch_series, self.client, refs[i + 1], self.cache) if i + 1 < len(refs) else None
                yield from paths

    # -- results --------------------------------------------------------------------------------
    def finish(self, path: Path | str, result: Any, calibration: dict | None = None,
               measurements: Any = None) -> None:
        """Name a DICOMweb result by its address (``result.image``) and queue its SR (``--sr``,
        ``--store-sr``): SRs are built and written/stored in a background thread, overlapping
        the model (highdicom takes seconds per SR); their failures are collected for
        :meth:`close`. Raises (ValueError, OSError) when the image's header cannot be read."""
        want_sr = self.args.sr or (self.client is not None and self.args.store_sr)
        if not want_sr and self.client is None:
            return
        from cephmark.io import is_dicom
        from cephmark.io.dicom import read_dataset

        if not is_dicom(path):
            self.notes.append(f"{path}: no SR written (not a DICOM file)")
            return
        source = read_dataset(path, stop_before_pixels=True)
        if self.client is not None:
            from cephmark.io.dicomweb import instance_url

            result.image = instance_url(self.client, source)
            if not self.args.cache:  # done with this fetched instance: keep the disk use bounded
                Path(path).unlink(missing_ok=True)
        if want_sr:
            if self._sr_pool is None:
                self._sr_pool = ThreadPoolExecutor(max_workers=1)
            while len(self._sr_jobs) >= 8:  # bounded: wait for the oldest
                self._settle(self._sr_jobs.pop(0))
            job = self._sr_pool.submit(self._write_sr, path, source, list(result.landmarks), calibration, measurements)
            self._sr_jobs.append((str(path), job))

    def _write_sr(self, path, source, landmarks, calibration, measurements) -> None:
        from cephmark.io.sr import build_sr, sr_bytes

        sr = build_sr(source, landmarks, calibration=calibration, measurements=measurements,
                      style=self.args.sr_style, model_name=self.model_name)
        if self.args.sr:
            from cephmark.util import atomic_write_bytes

            atomic_write_bytes(Path(self.args.sr) / f"{Path(path).stem}.sr.dcm", sr_bytes(sr))
        if self.client is not None and self.args.store_sr:
            from cephmark.io.dicomweb import store

            store(self.client, [sr])

    def _settle(self, item: tuple[str, Any]) -> None:
        path, job = item
        try:
            job.result()
        except Exception as exc:  # the image's result is kept; its SR is reported missing
            self.sr_failures.append(f"{path}: SR not written: {exc}")

    def close(self) -> int:
        """Wait for the queued SRs, remove the temporary fetch folder (not a ``--cache`` one);
        the number of SRs that failed (each reported by :meth:`report`)."""
        for item in self._sr_jobs:
            self._settle(item)
        self._sr_jobs = []
        if self._sr_pool is not None:
            self._sr_pool.shutdown()
            self._sr_pool = None
        if self.cache is not None and not self.args.cache:
            shutil.rmtree(self.cache, ignore_errors=True)
        self.cache = None
        return len(self.sr_failures)

    def report(self, prog: str, sr_failures: bool = True) -> None:
        """Notes, skipped series and (unless the caller lists them itself) SR failures."""
        for note in self.notes:
            print(f"{prog}: {note}", file=sys.stderr)
        for msg in self.sr_failures if sr_failures else ():
            print(f"{prog}: failed: {msg}", file=sys.stderr)
        if self.skipped:
            print(f"{prog}: {len(self.skipped)} series skipped, they already have cephmark's SR "
                  f"(--redo to process them again): {', '.join(self.skipped)}", file=sys.stderr)
