"""FastAPI app for annotators and their coordinator.

Security model: every API call carries a token (``Authorization: Bearer``), looked up by its
SHA-256 before the request body is read (hggt.app.guard); an annotator reads and writes only the
sets assigned to them; the coordinator's token opens a read-only status view and nothing else;
images are addressed by set id and slot, never by a path from the client, and read from the
dataset root the app was started on (the store names them relative to it and refuses a name
leading out of it: a copied dataset serves its own files, not the original's); state-changing calls
must come from the app's own origin, under a host name the server knows, as small JSON bodies.
Error messages never echo the input. All assets are served from the package; nothing comes from a CDN.

This module imports neither torch nor Prefect: the server only needs the store and the images.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from hggt.app.guard import Guard, HostRule
from hggt.core.annotation.labels import MAX_VERSIONS
from hggt.core.annotation.store import MAX_SECONDS, AlreadySubmitted, AnnotationStore, Forbidden, NotFound

STATIC = Path(__file__).parent / "static"
ASSETS = {"app.js": "text/javascript", "view.js": "text/javascript", "drafts.js": "text/javascript", "admin.js": "text/javascript", "app.css": "text/css"}
STATUS_MAX_AGE = 5.0  # seconds the coordinator's figures are reused, so polling pages cannot load the server


FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2f6fd6"/>'
           b'<path d="M4 4v8M12 4v8M4 8h8" stroke="#fff" stroke-width="2"/></svg>')


class Submission(BaseModel):
    labels: dict[str, str] = Field(max_length=MAX_VERSIONS)  # slot -> label; the store checks the set's own count
    # strict: "5" or true is a client bug, not a time
    seconds: float = Field(ge=0, lt=MAX_SECONDS, allow_inf_nan=False, strict=True)
    revise: bool = Field(default=False, strict=True)  # a set already submitted changes only when this says so


def _read(url: str) -> bytes:
    if "://" not in url or url.startswith("file://"):  # the common case, without importing fsspec's machinery
        return Path(url.removeprefix("file://")).read_bytes()
    from hggt.core import storage

    return storage.read_bytes(url)


def create_app(store: AnnotationStore, host: str = "127.0.0.1", allowed_hosts: Iterable[str] = ()) -> Guard:
    app = FastAPI(title="hggt annotation", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Which field and why, never the value sent: bodies may be large or hostile.
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": problems}, status_code=422)

    def annotator(request: Request) -> str:
        return request.scope["state"]["annotator"]  # set by the guard, which refused requests without a token

    def owned(fn, *args):
        try:
            return fn(*args)
        except NotFound:
            raise HTTPException(404, "no such set or image") from None
        except Forbidden:
            raise HTTPException(403, "this set is not assigned to you") from None

    def page(name: str) -> FileResponse:
        return FileResponse(STATIC / name, media_type="text/html")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return page("index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/admin", include_in_schema=False)
    def admin_page() -> FileResponse:
        return page("admin.html")

    @app.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise HTTPException(404, "no such asset")
        return FileResponse(STATIC / name, media_type=ASSETS[name])

    @app.get("/api/me")
    def me(request: Request) -> dict:
        name = annotator(request)
        queue = store.queue(name)
        done = sum(q["done"] for q in queue)
        resume = next((i for i, q in enumerate(queue) if not q["done"]), max(len(queue) - 1, 0))
        return {"annotator": name, "assigned": len(queue), "done": done, "resume_at": resume,
                "queue": [{"set_id": q["set_id"], "done": q["done"]} for q in queue]}

    # Sets and images are a few indexed reads each: answered on the event loop, without the thread
    # hand-off (and the GIL contention of forty threads) that made them wait under load.
    @app.get("/api/sets/{set_id}")
    async def get_set(set_id: str, request: Request) -> dict:
        return owned(store.set_for, annotator(request), set_id)

    @app.get("/api/sets/{set_id}/images/{slot}")
    async def image(set_id: str, slot: str, request: Request) -> Response:
        url = owned(store.image_url, annotator(request), set_id, slot)
        try:
            data = _read(url)
        except FileNotFoundError:
            raise HTTPException(404, "image file missing on the server") from None
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/api/sets/{set_id}/votes")
    def vote(set_id: str, submission: Submission, request: Request) -> dict:
        name = annotator(request)
        try:
            owned(store.record, name, set_id, submission.labels, submission.seconds, "app", submission.revise)
        except AlreadySubmitted as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"set_id": set_id, **store.progress(name)}

    cache: dict = {"at": -math.inf, "value": None}
    lock = threading.Lock()

    @app.get("/api/admin/status")
    def status() -> dict:
        from hggt.core.annotation.status import campaign_status  # numpy: loaded when a coordinator first looks

        with lock:  # one computation at a time, however many pages poll
            if time.monotonic() - cache["at"] > STATUS_MAX_AGE:
                cache["value"], cache["at"] = campaign_status(store), time.monotonic()
            return cache["value"]

    return Guard(app, HostRule(host, allowed_hosts), store.annotator_for_token, store.is_admin_token)
