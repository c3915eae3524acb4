"""``cephmark analyze``: landmarks, ruler calibration (mm/px with a status) and cephalometric
measurements (ISBI 2015 eight, Steiner, Tweed, Wits, facial height ratios, Bjork) in one command;
JSON or CSV, and a one-page report per image with ``--report``. ``--landmarks FILE`` measures
given points (a predict JSON or any annotation format) through the same code."""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from cephmark.cli.common import add_config_option, add_speed_options, split_list
from cephmark.cli.dicomweb import ImageSource, add_source_options

NO_MODEL = "none"


def build_parser() -> argparse.ArgumentParser:
    from cephmark.analysis.measurements import ANALYSES

    p = argparse.ArgumentParser(prog="cephmark analyze", description=__doc__)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders (DICOM included)")
    p.add_argument("--checkpoint", help="landmark model (default: the bundled starter model)")
    p.add_argument("--calibration", metavar="MODEL",
                   help="ruler model predicting p1/p2 (default: the bundled ruler model when installed, "
                        f"also named 'ruler'; '{NO_MODEL}': no ruler, DICOM spacing only)")
    p.add_argument("--calibration-refiner", metavar="MODEL",
                   help="crop refiner for the ruler model's p1/p2 (second pass)")
    p.add_argument("--ruler-pitch", type=float, metavar="MM",
                   help="the ruler's mark spacing (e.g. 1): mm/px from the marks' pitch measured along "
                        "p1 -> p2, p1/p2 moved onto their marks (infer.ruler_pitch_mm; default off)")
    p.add_argument("--analysis", metavar="NAME,...",
                   help=f"analyses to compute (default: all): {', '.join(ANALYSES)}")
    p.add_argument("--face", choices=("auto", "right", "left"), default="auto",
                   help="which way the face looks (default: from the landmarks); left faces are mirrored")
    p.add_argument("--landmarks", metavar="FILE",
                   help="measure these points instead of running a landmark model: a predict JSON, or "
                        "Label Studio / COCO / CSV / Aariz annotations; with --calibration MODEL the ruler "
                        "model runs on their images, else p1/p2 among the points (or the stated spacing) calibrate")
    p.add_argument("--annotation-format", default="auto", help="format of --landmarks annotations")
    p.add_argument("--out", metavar="FILE", required=True, help="FILE.json or FILE.csv")
    p.add_argument("--report", metavar="DIR", help="write a one-page report (PNG and PDF) per image here")
    p.add_argument("--device", help="cpu, cuda ... (default: auto)")
    add_speed_options(p)
    add_source_options(p)
    add_config_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from cephmark.analysis.measurements import select

    analyses = split_list(args.analysis)
    select(analyses)  # unknown names fail before any model loads
    if not args.out.lower().endswith((".json", ".csv")):
        raise ValueError(f"--out {args.out}: give a .json or .csv file")
    if args.landmarks:
        if args.dicomweb or args.sr or args.store_sr:
            raise ValueError("--sr, --store-sr and --dicomweb work on images, not with --landmarks")
        if args.inputs:
            raise ValueError("--landmarks FILE names its images: give no INPUT")
        results, failures = _from_landmarks(args, analyses)
    else:
        results, failures = _from_models(args, analyses)
    if not results and failures:
        for msg in failures:
            print(f"cephmark analyze: failed: {msg}", file=sys.stderr)
        return 1
    write_analysis(results, args.out)
    print(f"wrote {args.out} ({len(results)} image{'s' if len(results) != 1 else ''})", file=sys.stderr)
    for msg in failures:
        print(f"cephmark analyze: failed: {msg}", file=sys.stderr)
    return 1 if failures else 0


def _from_models(args, analyses):
    from tqdm import tqdm

    from cephmark.analysis.pipeline import Analyzer
    from cephmark.calibration.pitch_stage import convention_from
    from cephmark.cli.common import load_config, speed_overrides
    from cephmark.inference.refine import build_predictor
    from cephmark.io import read_image
    from cephmark.weights import default_checkpoint

    if not args.inputs and not args.dicomweb:
        raise ValueError("give images (files or folders), --dicomweb URL, or --landmarks FILE")
    cfg = load_config(args, {"infer.device": args.device, **speed_overrides(args),
                             "infer.checkpoint": args.checkpoint, "infer.ruler_pitch_mm": args.ruler_pitch})
    checkpoint = cfg.infer.checkpoint or default_checkpoint()
    source = ImageSource(args, model_name=Path(checkpoint).name)  # local files or DICOMweb series
    total = source.plan()
    landmarks = build_predictor(checkpoint, cfg)
    ruler = _ruler_predictor(args, cfg)
    analyzer = Analyzer(landmarks, ruler, analyses, args.face, pitch=convention_from(cfg))
    items, failures = [], []
    bar = tqdm(total=total, unit="image", disable=total < 3, file=sys.stderr)
    try:
        for path in source.images():
            bar.update(1)
            try:
                image = read_image(path)
                result = analyzer.analyze(image)
            except (ValueError, OSError, RuntimeError) as exc:
                failures.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
                continue
            items.append(result)
            _report(args, result, image.pixels)  # now: the pixels are not kept
            try:  # SR with calibration and measurements; a DICOMweb result named by its address
                source.finish(path, result.landmarks, calibration=result.calibration.to_dict(),
                              measurements=result.measurements.to_dict())
            except (ValueError, OSError, RuntimeError) as exc:
                failures.append(f"{path}: SR: {exc}")
    finally:
        source.close()  # waits for the SRs still being written
    failures += source.sr_failures
    bar.close()
    source.report("cephmark analyze", sr_failures=False)  # they are among `failures`
    return items, failures


def _ruler_predictor(args, cfg):
    from cephmark.inference.refine import build_predictor

    chosen = args.calibration
    if chosen is None:
        chosen = default_ruler_checkpoint()
    if chosen is None or chosen == NO_MODEL:
        if args.calibration_refiner:
            raise ValueError("--calibration-refiner needs a --calibration model")
        return None
    from cephmark.weights import resolve_checkpoint

    ruler_cfg = cfg.from_dict(cfg.to_dict())
    ruler_cfg.update({"infer.refine_checkpoint": args.calibration_refiner})
    return build_predictor(resolve_checkpoint(chosen), ruler_cfg)  # "ruler": the bundled model


def default_ruler_checkpoint() -> str | None:
    """The bundled ruler model when this installation has one, else None (no ruler)."""
    import cephmark.weights as weights

    fn = getattr(weights, "default_ruler_checkpoint", None)
    if fn is None:
        return None
    try:
        return str(fn())
    except FileNotFoundError:
        return None


def _from_landmarks(args, analyses):
    """`AnalysisResult`s of a predict JSON or an annotation file (reports written on the way)."""
    from cephmark.analysis.pipeline import analyze_points, read_ruler, result_from_points
    from cephmark.io import read_image

    path = Path(args.landmarks)
    entries = _predict_json(path)
    if entries is None:
        from cephmark.annotations import read_annotations

        ann = read_annotations(path, fmt=args.annotation_format)
        entries = [result_from_points(str(a.image_path), dict(a.points), a.width or 0, a.height or 0,
                                      a.spacing_mm, "annotation" if a.spacing_mm else None) for a in ann.images]
    ruler = None
    if args.calibration and args.calibration != NO_MODEL:  # the ruler model runs on the images
        from cephmark.cli.common import load_config, speed_overrides

        ruler = _ruler_predictor(args, load_config(args, {"infer.device": args.device, **speed_overrides(args)}))
    from tqdm import tqdm

    items, failures = [], []
    for res in tqdm(entries, unit="image", disable=len(entries) < 3 or ruler is None, file=sys.stderr):
        names = [lm.name for lm in res.landmarks]
        pixels, marks, flags = None, None, None
        if ruler is not None or args.report:
            try:
                image = read_image(res.image)
            except (ValueError, OSError) as exc:
                if ruler is not None:
                    failures.append(f"{res.image}: {exc}")
                    continue
                print(f"cephmark analyze: {res.image}: no image for the report ({exc})", file=sys.stderr)
            else:
                pixels = image.pixels
                if ruler is not None:
                    marks, flags = read_ruler(ruler, image)
        result = analyze_points(res, marks, ruler_model=True if ruler is not None else None, analyses=analyses,
                                face=args.face, model_names=names, flags=flags)
        _report(args, result, pixels)
        items.append(result)
    return items, failures


def _report(args, result, pixels) -> None:
    if args.report:
        from cephmark.analysis.report import write_report

        for path in write_report(result, pixels, args.report):
            print(f"wrote {path}", file=sys.stderr)


def _predict_json(path: Path):
    """`ImageResult`s of a ``cephmark predict`` JSON, or None when the file is something else."""
    from cephmark.inference.results import ImageResult, LandmarkResult

    if path.suffix.lower() != ".json":
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read JSON ({exc})") from exc
    if not (isinstance(data, dict) and isinstance(data.get("images"), list)
            and all(isinstance(i, dict) and "landmarks" in i for i in data["images"])):
        return None
    out = []
    for k, im in enumerate(data["images"]):
        try:
            lms = [LandmarkResult(name=str(lm["name"]), x=lm.get("x"), y=lm.get("y"),
                                  score=float(lm.get("score", 1.0)),
                                  found=bool(lm.get("found", lm.get("x") is not None)))
                   for lm in im["landmarks"]]
            out.append(ImageResult(image=str(im["image"]), width=int(im.get("width") or 0),
                                   height=int(im.get("height") or 0), spacing_mm=im.get("spacing_mm"),
                                   spacing_source=im.get("spacing_source"), landmarks=lms))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: image entry {k}: not a predict result ({exc})") from exc
    return out


CSV_COLUMNS = ["image", "analysis", "name", "value", "unit", "norm_mean", "norm_sd", "deviation_sd",
               "class", "class_label", "reason", "mm_per_px", "calibration_source", "calibration_status",
               "face"]


def write_analysis(results, path: str) -> None:
    """JSON ``{"images": [...]}`` or CSV (one row per image and measurement), written atomically."""
    from cephmark.util import atomic_write_text

    if path.lower().endswith(".csv"):
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(CSV_COLUMNS)
        for r in results:
            cal = r.calibration
            for v in r.measurements.values:
                m, c = v.measurement, v.class_rule
                w.writerow(["" if x is None else x for x in [
                    r.landmarks.image, m.analysis, m.name, v.value, m.unit,
                    m.norm.mean if m.norm else None, m.norm.sd if m.norm else None, v.deviation_sd,
                    c.code if c else None, c.label if c else None, v.reason, cal.mm_per_px, cal.source,
                    cal.status, r.measurements.orientation.face]])
        text = buf.getvalue()
    else:
        from cephmark.inference.results import to_json

        text = to_json({"images": [r.to_dict() for r in results]}, indent=2) + "\n"  # no NaN tokens
    atomic_write_text(Path(path), text)
