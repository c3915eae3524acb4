"""MONAI Label 0.8.5's ``POST /infer/{model}`` off the event loop.

Its endpoint is an ``async def`` that calls the synchronous inference directly, so while one
image is inferred the server's event loop is blocked: a second request cannot even be read,
and ``/info`` or the datastore endpoints wait too. `run_infer_in_threadpool` makes that
route run the same function in the server's thread pool. Requests then overlap their reading,
preprocessing and result writing; the network passes themselves take turns
(`LandmarkPredictor` runs one at a time: each already uses every core).
"""
from __future__ import annotations

import functools
import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)


def run_infer_in_threadpool(app: Any | None = None) -> bool:
    """Make the server's infer route run in the thread pool (``app``: the FastAPI app, default
    the one in ``monailabel.app`` when the server imported it). Returns whether it did."""
    if app is None:
        module = sys.modules.get("monailabel.app")  # only inside the server process
        app = getattr(module, "app", None)
        if app is None:
            return False
    from fastapi.routing import APIRoute
    from starlette.concurrency import run_in_threadpool

    from monailabel.endpoints import infer as endpoint

    original = endpoint.api_run_inference

    @functools.wraps(original)  # the same parameters, so the same request parsing and RBAC check
    async def threaded(**values: Any) -> Any:
        values.pop("user", None)  # checked by the route's dependency already
        return await run_in_threadpool(endpoint.run_inference, **values)

    patched = 0
    # FastAPI versions whose include_router copied the route into the app
    for route in app.routes:
        if isinstance(route, APIRoute) and route.endpoint is original:
            route.dependant.call = threaded
            patched += 1
    # FastAPI versions whose app reads the included router's own routes (rebuilt when they change)
    router = endpoint.router
    for route in [r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is original]:
        router.routes.remove(route)
        router.add_api_route(route.path[len(router.prefix):], threaded, methods=list(route.methods),
                             summary=route.summary)
        patched += 1
    if patched:
        logger.info("infer requests run in the thread pool (concurrent reading and preprocessing)")
    else:
        logger.warning("MONAI Label's infer route not found: infer requests block the server one at a time")
    return bool(patched)
