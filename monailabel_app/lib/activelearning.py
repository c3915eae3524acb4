"""Active learning by landmark uncertainty: a strategy and the scoring method that caches it.

Each image's uncertainty (:mod:`cephmark.app.uncertainty`: mean distance between the plain and
the mirrored prediction) is stored in its datastore info under ``landmark_uncertainty`` with the
key of the model that produced it; a value from another model (e.g. before the last training)
is recomputed when needed.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.scoring import ScoringMethod
from monailabel.interfaces.tasks.strategy import Strategy

from cephmark.app import load_app_image, predict_with_uncertainty
from cephmark.util import parse_bool

from .models import ModelSource

logger = logging.getLogger(__name__)

INFO_KEY = "landmark_uncertainty"


class UncertaintyCache:
    def __init__(self, source: ModelSource) -> None:
        self.source = source

    def stored(self, image_id: str, datastore: Datastore) -> float | None:
        entry = (datastore.get_image_info(image_id) or {}).get(INFO_KEY)
        if isinstance(entry, dict) and entry.get("model_key") == self.source.key():
            value = entry.get("value")
            return float(value) if value is not None else None
        return None

    def compute(self, image_id: str, datastore: Datastore) -> dict[str, Any]:
        app_image = load_app_image(datastore.get_image_uri(image_id))
        predictor, model = self.source.get()
        _, unc = predict_with_uncertainty(predictor, app_image.ceph)
        entry = {**unc.to_dict(), "model": model["name"], "model_key": model["key"], "ts": int(time.time())}
        store(datastore, image_id, entry)
        return entry

    def value(self, image_id: str, datastore: Datastore) -> float:
        v = self.stored(image_id, datastore)
        return v if v is not None else float(self.compute(image_id, datastore)["value"])


def store(datastore: Datastore, image_id: str, entry: dict[str, Any]) -> None:
    try:
        datastore.update_image_info(image_id, {INFO_KEY: entry})
    except Exception as exc:  # e.g. an image the datastore does not index locally
        logger.warning("cannot store the uncertainty of %s: %s", image_id, exc)


class UncertaintyStrategy(Strategy):
    """The unlabelled image whose landmarks the model is least sure of."""

    def __init__(self, cache: UncertaintyCache) -> None:
        super().__init__("Unlabelled image with the most uncertain landmarks (plain vs mirrored prediction)")
        self.cache = cache

    def __call__(self, request: dict, datastore: Datastore):
        images = datastore.get_unlabeled_images(request.get("label_tag"), request.get("labels"))
        best: tuple[float, str] | None = None
        for image_id in sorted(images):
            try:
                value = self.cache.value(image_id, datastore)
            except Exception as exc:
                logger.warning("uncertainty: skipping %s: %s", image_id, exc)
                continue
            if best is None or value > best[0]:
                best = (value, image_id)
        if best is None:
            return None
        logger.info("uncertainty: selected %s (%.3f)", best[1], best[0])
        return {"id": best[1], "uncertainty": best[0]}


class UncertaintyScoring(ScoringMethod):
    """Stores each image's landmark uncertainty in the datastore info (``landmark_uncertainty``)."""

    def __init__(self, cache: UncertaintyCache) -> None:
        super().__init__("Landmark uncertainty per image (stored as image info 'landmark_uncertainty')")
        self.cache = cache

    def __call__(self, request: dict, datastore: Datastore):
        which = request.get("images", "unlabeled")
        if which == "all":
            images = datastore.list_images()
        elif which == "labeled":
            images = datastore.get_labeled_images()
        elif isinstance(which, list):
            images = which
        else:
            images = datastore.get_unlabeled_images()
        force = parse_bool(request.get("force"), False)
        out: dict[str, Any] = {}
        for image_id in sorted(images):
            try:
                value = None if force else self.cache.stored(image_id, datastore)
                out[image_id] = value if value is not None else self.cache.compute(image_id, datastore)["value"]
            except Exception as exc:
                logger.warning("uncertainty: cannot score %s: %s", image_id, exc)
                out[image_id] = {"error": str(exc)}
        return {"method": "uncertainty", "key": INFO_KEY, "images": out}
