"""FastAPI app for annotators.

Security model: every API call carries the annotator's token (``Authorization: Bearer``), looked
up by its SHA-256; an annotator reads and writes only the sets assigned to them; images are
addressed by set id and slot, never by a path from the client; state-changing calls must come
from the app's own origin and as JSON, so another site cannot make a browser submit votes. All
assets are served from the package; nothing comes from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from hggt_core import storage
from hggt_core.annotation.store import AnnotationStore, Forbidden, NotFound

STATIC = Path(__file__).parent / "static"
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class Submission(BaseModel):
    labels: dict[str, str]
    seconds: float = Field(ge=0)


def create_app(store: AnnotationStore) -> FastAPI:
    app = FastAPI(title="hggt annotation", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            host = request.headers.get("host", "")
            if origin is not None and origin.split("://", 1)[-1] != host:
                return JSONResponse({"detail": "cross-origin request refused"}, status_code=403)
            if not request.headers.get("content-type", "").startswith("application/json"):
                return JSONResponse({"detail": "send JSON"}, status_code=415)
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    def annotator(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        name = store.annotator_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            raise HTTPException(401, "a valid annotator token is required", headers={"WWW-Authenticate": "Bearer"})
        return name

    def owned(fn, *args):
        try:
            return fn(*args)
        except NotFound:
            raise HTTPException(404, "no such set or image") from None
        except Forbidden:
            raise HTTPException(403, "this set is not assigned to you") from None

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

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

    @app.get("/api/sets/{set_id}")
    def get_set(set_id: str, request: Request) -> dict:
        return owned(store.set_for, annotator(request), set_id)

    @app.get("/api/sets/{set_id}/images/{slot}")
    def image(set_id: str, slot: str, request: Request) -> Response:
        url = owned(store.image_url, annotator(request), set_id, slot)
        try:
            data = storage.read_bytes(url)
        except FileNotFoundError:
            raise HTTPException(404, "image file missing on the server") from None
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/api/sets/{set_id}/votes")
    def vote(set_id: str, submission: Submission, request: Request) -> dict:
        name = annotator(request)
        try:
            owned(store.record, name, set_id, submission.labels, submission.seconds)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        queue = store.queue(name)
        return {"done": sum(q["done"] for q in queue), "assigned": len(queue)}

    return app
