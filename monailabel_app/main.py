"""cephmark's MONAI Label app: cephalometric landmarks for 3D Slicer and OHIF.

    python -m monailabel.main start_server --app monailabel_app --studies IMAGES_OR_DICOMWEB_URL \
        --conf models all --conf cldetection_model model_pretrained_on_train_and_val.pth

Models are declared one per file in ``lib/configs/<task>.py`` (a :class:`lib.spec.ModelSpec`;
adding a model = adding a file there); ``--conf models``: ``all`` or a comma list of them.
Each model gets:

* an infer task (e.g. ``cephalometric``: the CL-Detection 2023 model's 38 landmarks;
  ``calibration``: the ruler marks p1/p2 with mm/px = 10 / |p1 - p2|), returning a disc label
  map (value = landmark index + 1, ``label_names``) or, with ``markups: true``, a Slicer point
  list, and the coordinates (px, mm, scores, found, mm/px) in the JSON;
* a train task of the same name: fine-tune on the final labels, publish to the model dir; the
  infer task uses it from its next request.

Strategy ``uncertainty`` and scoring ``uncertainty`` (first model): plain-vs-mirrored disagreement.

See the README (section "MONAI Label app") for the options and the 3D Slicer workflow.
"""
from __future__ import annotations

import logging
import os
import pathlib
import re
import tempfile
import time
from typing import Any, Callable, Dict, Sequence

import torch
from dicomweb_client import DICOMwebClient
from dicomweb_client.session_utils import create_session_from_user_pass
from fastapi import HTTPException

from monailabel.config import settings
from monailabel.datastore.dicom import DICOMwebClientX
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.exception import MONAILabelException
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.scoring import ScoringMethod
from monailabel.interfaces.tasks.strategy import Strategy
from monailabel.interfaces.tasks.train import TrainTask
from monailabel.tasks.activelearning.first import First
from monailabel.tasks.activelearning.random import Random

import cephmark
from lib.activelearning import INFO_KEY, UncertaintyCache, UncertaintyScoring, UncertaintyStrategy, store
from lib.configs import collect_specs
from lib.datastore import DATASTORE_PATTERNS, CephDICOMWebDatastore, SafeLocalDatastore, unsafe_reason
from lib.infers import InvalidParams, LandmarkInferTask
from lib.models import ModelSource
from lib.options import AppOptions
from lib.routes import run_infer_in_threadpool
from lib.spec import ModelSpec
from lib.trainers import LandmarkTrainTask

logger = logging.getLogger(__name__)

UPLOAD_NAME = re.compile(r"tmp[a-z0-9_]{8}(\.[A-Za-z0-9]+){0,3}")  # NamedTemporaryFile().name + suffix
UPLOAD_MAX_AGE_S = 600.0


class CephMarkApp(MONAILabelApp):
    def __init__(self, app_dir: str, studies: str, conf: Dict[str, str],
                 specs: Sequence[ModelSpec] | None = None):
        """``specs``: the models (default: every ``lib/configs/<task>.py``)."""
        specs = list(specs) if specs is not None else collect_specs()
        self.options = AppOptions.from_conf(app_dir, conf or {}, specs)
        # experiment tracking only when asked for (--conf tracking true)
        settings.MONAI_LABEL_TRACKING_ENABLED = self.options.tracking
        self.specs: Dict[str, ModelSpec] = {s.name: s for s in specs if s.name in self.options.models}
        self.sources: Dict[str, ModelSource] = {
            name: ModelSource.from_spec(spec, self.options) for name, spec in self.specs.items()}
        primary = next(iter(self.sources.values()))
        self.uncertainty = UncertaintyCache(primary)
        logger.info("cephmark app: models %s, model dir %s", ", ".join(self.options.models), self.options.model_dir)
        super().__init__(app_dir=app_dir, studies=studies, conf=conf, name="cephmark",
                         description="Cephalometric landmark detection (CL-Detection 2023 model)",
                         version=cephmark.__version__, labels=None)
        run_infer_in_threadpool()  # concurrent requests overlap (see lib/routes.py)

    # -- datastores -------------------------------------------------------------------
    def init_datastore(self) -> Datastore:
        if self.studies.startswith(("http://", "https://")):
            self.studies = self.studies.rstrip("/").strip()
            return self.init_remote_datastore()
        logger.info("Init local datastore: %s", self.studies)
        return SafeLocalDatastore(
            self.studies, extensions=DATASTORE_PATTERNS,
            auto_reload=settings.MONAI_LABEL_DATASTORE_AUTO_RELOAD,
            read_only=settings.MONAI_LABEL_DATASTORE_READ_ONLY,
        )

    def _init_dicomweb_datastore(self) -> Datastore:
        logger.info("Using DICOMweb: %s (modalities %s)", self.studies, ",".join(self.options.dicomweb_modalities))
        user = settings.MONAI_LABEL_DATASTORE_USERNAME or settings.MONAI_LABEL_DICOMWEB_USERNAME
        password = settings.MONAI_LABEL_DATASTORE_PASSWORD or settings.MONAI_LABEL_DICOMWEB_PASSWORD
        if "googleapis.com" in self.studies:
            from dicomweb_client.ext.gcp.session_utils import create_session_from_gcp_credentials

            client: DICOMwebClient = DICOMwebClient(url=self.studies, session=create_session_from_gcp_credentials())
        else:
            session = create_session_from_user_pass(user, password) if user and password else None
            client = DICOMwebClientX(
                url=self.studies, session=session,
                qido_url_prefix=settings.MONAI_LABEL_QIDO_PREFIX,
                wado_url_prefix=settings.MONAI_LABEL_WADO_PREFIX,
                stow_url_prefix=settings.MONAI_LABEL_STOW_PREFIX,
            )
        cache_path = (settings.MONAI_LABEL_DICOMWEB_CACHE_PATH or settings.MONAI_LABEL_DATASTORE_CACHE_PATH or "").strip()
        return CephDICOMWebDatastore(
            client=client, search_filter={"Modality": ",".join(self.options.dicomweb_modalities)},
            cache_path=cache_path or None, fetch_by_frame=settings.MONAI_LABEL_DICOMWEB_FETCH_BY_FRAME,
            convert_to_nifti=settings.MONAI_LABEL_DICOMWEB_CONVERT_TO_NIFTI,
            modalities=self.options.dicomweb_modalities,
            store_sr=self.options.dicomweb_store_sr, sr_style=self.options.sr_style,
        )

    def _download_dcmqi_tools(self):
        # MONAI Label downloads dcmqi from GitHub here; this app never downloads anything at start
        logger.info("dcmqi download skipped (offline); put itkimage2segimage on PATH to upload SEG labels")

    # -- tasks ------------------------------------------------------------------------
    def init_infers(self) -> Dict[str, InferTask]:
        return {name: LandmarkInferTask(self.specs[name], src, self.options.disc_radius, peers=self.sources)
                for name, src in self.sources.items()}

    def init_trainers(self) -> Dict[str, TrainTask]:
        return {name: LandmarkTrainTask(self.specs[name], src, self.options) for name, src in self.sources.items()}

    def init_strategies(self) -> Dict[str, Strategy]:
        return {"uncertainty": UncertaintyStrategy(self.uncertainty), "random": Random(), "first": First()}

    def init_scoring_methods(self) -> Dict[str, ScoringMethod]:
        return {"uncertainty": UncertaintyScoring(self.uncertainty)}

    def info(self):
        meta = super().info()
        meta["cephmark"] = {
            "version": cephmark.__version__, "model_dir": str(self.options.model_dir),
            "models": {n: (lambda c: {"path": str(c[0]), "origin": c[1]} if c else None)(s.current())
                       for n, s in self.sources.items()},
            "uncertainty_info_key": INFO_KEY,
        }
        return meta

    def on_init_complete(self):
        super().on_init_complete()
        answer_bad_json_with_400()

    # -- requests ---------------------------------------------------------------------
    def _allowed_path(self, image: str) -> bool:
        """An absolute path the server itself created: an uploaded file (MONAI Label writes it as
        ``tempfile.NamedTemporaryFile().name``: ``<tmp>/tmpXXXXXXXX<suffix>``, fresh) or a session
        image. Anything else is refused the same way whether it exists or not (no probing)."""
        if not os.path.isabs(image) or os.path.normpath(image) != image:
            return False
        session_root = settings.MONAI_LABEL_SESSION_PATH.strip() or os.path.join(
            pathlib.Path.home(), ".cache", "monailabel", "sessions")
        if os.path.commonpath([os.path.realpath(image), os.path.realpath(session_root)]) == os.path.realpath(session_root):
            return os.path.exists(image)
        if os.path.dirname(image) != tempfile.gettempdir() or not UPLOAD_NAME.fullmatch(os.path.basename(image)):
            return False
        try:
            return not os.path.islink(image) and time.time() - os.path.getmtime(image) < UPLOAD_MAX_AGE_S
        except OSError:
            return False

    def _check_image(self, image: str, datastore: Datastore) -> None:
        reason = unsafe_reason(image)
        if reason is None:
            if image not in datastore.list_images():
                raise HTTPException(status_code=404, detail=f"image {image!r} is not in the datastore")
            return
        if not self._allowed_path(image):
            raise HTTPException(status_code=400, detail=f"refused image {image!r}: it {reason}; "
                                                        "give a datastore image id or upload the file")

    def infer(self, request, datastore=None):
        ds = datastore or self.datastore()
        image = request.get("image")
        if isinstance(image, str):
            self._check_image(image, ds)
            request = dict(request)
            request["_image_id"] = os.path.basename(image) if os.path.isabs(image) else image
        try:
            result = super().infer(request, datastore)
        except HTTPException:
            raise
        except InvalidParams as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        except MONAILabelException as exc:
            raise HTTPException(status_code=400, detail=str(exc.msg)) from exc
        except FileNotFoundError as exc:
            raise HTTPException(status_code=404, detail=_clean(str(exc))) from exc
        except (ValueError, OSError, RuntimeError) as exc:
            logger.warning("infer failed on %r: %s", image, exc)
            raise HTTPException(status_code=422, detail=f"cannot run {request.get('model')} on image "
                                                        f"{request.get('_image_id', '')!r}: {_clean(str(exc))}") from exc
        params = result.get("params") or {}
        if (isinstance(image, str) and unsafe_reason(image) is None and params.get("uncertainty")
                and params.get("model_key") == self.uncertainty.source.key()):
            store(ds, image, {**params["uncertainty"], "model": params.get("model"),
                              "model_key": params.get("model_key"), "ts": int(time.time())})
        return result

    def batch_infer(self, request, datastore=None):
        def safe_infer(req, ds) -> Dict[str, Any]:
            try:
                result = self.infer(req, ds)
                if isinstance(ds, CephDICOMWebDatastore) and ds.store_sr:  # the SR goes to PACS too
                    params = result.get("params") or {}
                    ds.store_result_sr(req["image"], params.get("landmarks") or [], params.get("model"))
                return result
            except HTTPException as exc:
                logger.warning("batch infer: %s: %s", req.get("image"), exc.detail)
                return {"error": exc.detail}
            except Exception as exc:
                logger.warning("batch infer: %s: %s", req.get("image"), exc)
                return {"error": str(exc)}

        request = dict(request)
        if torch.cuda.device_count() == 0:
            # MONAI Label spreads images over the GPUs it finds (none: a division by zero)
            request["multi_gpu"] = False
            request["device"] = "cpu"
            # two images in flight: one is read / written while the other's network pass runs
            # (the passes themselves take turns, see LandmarkPredictor)
            request["max_workers"] = max(2, int(request.get("max_workers") or 0))
        infer: Callable = safe_infer
        return self._batch_infer(request, datastore if datastore else self.datastore(), infer)


def answer_bad_json_with_400() -> None:
    """MONAI Label's endpoints parse the ``params`` form field with ``json.loads`` before the app
    sees the request: a non-JSON value would be an HTTP 500. Answer it with 400 instead."""
    import json
    import sys

    from fastapi.responses import JSONResponse

    server = getattr(sys.modules.get("monailabel.app"), "app", None)
    if server is None or json.JSONDecodeError in server.exception_handlers:
        return  # not the server process (batch/train children), or done

    async def bad_json(request, exc: json.JSONDecodeError):
        return JSONResponse(status_code=400, content={"detail": f"params is not valid JSON: {exc}"})

    server.add_exception_handler(json.JSONDecodeError, bad_json)
    server.middleware_stack = None  # rebuilt (with the handler) on the next request


def _clean(message: str) -> str:
    """Drop a leading server-side file path ("/x/y/001.png: reason" -> "reason")."""
    head, sep, rest = message.partition(": ")
    if sep and (os.path.isabs(head) or os.path.exists(head)):
        return rest
    return message
