"""The studio's web app (FastAPI): the JSON API, the page, the media, behind the doors in `security`.

Every endpoint calls what the CLI calls: the brief loader, `prepare_brief`/`start_run`/`resume_run`
(through the worker), `prepare_edit`/`apply_edit`, the store. OpenAPI at /openapi.json, docs at /docs.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from agent.brief import MAX_BRIEF_BYTES, Brief
from agent.errors import BriefcutError, BriefError, RunNotFound
from agent.settings import Overrides
from agent.studio import security, uploads, views
from agent.studio.worker import Worker
from agent.workspace import Workspace

STATIC = Path(__file__).parent / "static"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
# HTTP status per error class name (the rest of briefcut's errors are 422: the request cannot be done).
STATUS = {"RunNotFound": 404, "UploadTooLarge": 413, "NotReviewable": 409, "EditConflict": 409,
          "NothingApproved": 409, "UnsupportedType": 415}  # fmt: skip
SSE_POLL_S = 0.5
SSE_HEARTBEAT_S = 15.0
CONFIRM_LOCK = threading.Lock()  # two confirmations of one run cannot both pass the busy check


@dataclass
class StudioConfig:
    """How a studio serves: its workspace, the folder briefs are read from, where it listens, its token."""

    workspace: Workspace
    briefs_root: Path
    host: str = "127.0.0.1"
    token: str | None = None
    threads: int = 1


class EditMessage(BaseModel):
    message: str = Field(min_length=1, max_length=4000, description='the change, e.g. "make the second shot darker"')
    plan: str | None = Field(default=None, description="edit one plan (e.g. gamers/v0); default: all")


class Approval(BaseModel):
    cuts: list[str] = Field(description="cut ids (from GET /api/runs/{id}) to approve; replaces the last approval")


class UnsupportedType(BriefcutError):
    """A brief sent with a content type that is not YAML."""


def create_app(config: StudioConfig) -> FastAPI:
    """The studio app over one workspace."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.worker.start()  # takes up what an earlier studio left unfinished
        yield
        app.state.worker.stop()

    app = FastAPI(title="briefcut studio", version="1", lifespan=lifespan,
                  description="A creative brief in, scored ad cuts out: the CLI's runs, edits and reviews over HTTP.")  # fmt: skip
    app.state.config = config
    app.state.worker = Worker(config.workspace, config.threads)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=security.allowed_hosts(config.host))
    app.middleware("http")(guard)
    app.exception_handler(BriefcutError)(briefcut_error)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api_routes())
    add_pages(app)
    return app


# 1. the doors --------------------------------------------------------------------------------------
async def guard(request: Request, call_next: Any) -> Response:
    """The access token (when one is set), then CSRF and origin checks on every state-changing request."""
    config: StudioConfig = request.app.state.config
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or None
    if config.token:
        if request.url.path == "/" and security.same(request.query_params.get("token"), config.token):
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(security.TOKEN_COOKIE, config.token, httponly=True, samesite="strict")
            return response
        if not (security.same(bearer, config.token) or security.same(request.cookies.get(security.TOKEN_COOKIE), config.token)):
            return JSONResponse({"error": "this studio needs its access token: open /?token=TOKEN once, "
                                          "or send 'Authorization: Bearer TOKEN'"}, status_code=401)  # fmt: skip
    csrf = request.cookies.get(security.CSRF_COOKIE) or security.new_secret()
    request.state.csrf = csrf
    if request.method not in security.SAFE_METHODS and not (config.token and security.same(bearer, config.token)):
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            return JSONResponse({"error": f"cross-origin request from {origin} refused"}, status_code=403)
        if not security.same(request.headers.get(security.CSRF_HEADER), request.cookies.get(security.CSRF_COOKIE)):
            return JSONResponse({"error": f"missing or wrong CSRF token: send the '{security.CSRF_COOKIE}' cookie's "
                                          f"value in an '{security.CSRF_HEADER}' header (GET /api/session gives it)"},
                                status_code=403)  # fmt: skip
    response = await call_next(request)
    if security.CSRF_COOKIE not in request.cookies:
        response.set_cookie(security.CSRF_COOKIE, csrf, samesite="strict", httponly=False)
    return response


async def briefcut_error(request: Request, exc: BriefcutError) -> JSONResponse:
    """briefcut's typed errors as one line, the same the CLI prints, with the line and field where known."""
    status = STATUS.get(type(exc).__name__, 422)
    return JSONResponse(uploads.error_fields(str(exc)), status_code=status)


# 2. the API ----------------------------------------------------------------------------------------
def api_routes() -> Any:
    from fastapi import APIRouter

    api = APIRouter(prefix="/api")
    yaml_body = {"requestBody": {"required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}}}

    @api.get("/session", summary="The CSRF token for state-changing requests (also set as a cookie)")
    def session(request: Request) -> dict[str, str]:
        return {"csrf": request.state.csrf, "header": security.CSRF_HEADER}

    @api.get("/schema", summary="The brief's JSON Schema (as `briefcut schema`)")
    def schema() -> dict[str, Any]:
        return Brief.model_json_schema()

    @api.get("/briefs", summary="The briefs in the studio's brief folder")
    def briefs(request: Request) -> dict[str, Any]:
        return {"root": str(cfg(request).briefs_root), "briefs": uploads.list_briefs(cfg(request).briefs_root)}

    @api.get("/briefs/{name:path}", summary="One brief's text from the brief folder")
    def brief_text(request: Request, name: str) -> Response:
        return Response(uploads.read_brief(cfg(request).briefs_root, name), media_type="application/yaml")

    @api.post("/validate", summary="Check a brief (YAML body) as the CLI would; the error has its line and field",
              openapi_extra=yaml_body)  # fmt: skip
    async def validate(request: Request, name: str | None = None) -> dict[str, Any]:
        body = await read_yaml(request)
        try:
            _, brief, _ = await run_in_threadpool(uploads.check_upload, cfg(request).briefs_root, name, body)
        except BriefError as exc:
            return {"ok": False, **uploads.error_fields(str(exc))}
        return {"ok": True, "segments": [s.id for s in brief.segments], "formats": brief.formats.aspect_ratios,
                "variants": brief.variants, "duration_s": brief.formats.duration_s}  # fmt: skip

    @api.post("/runs", status_code=202, summary="Start a run of a brief (YAML body); returns its id at once",
              openapi_extra=yaml_body)  # fmt: skip
    async def create_run(request: Request, name: str | None = None, profile: str | None = None,
                         resolution: int | None = None, formats: str | None = None,
                         variants: int | None = None) -> dict[str, str]:  # fmt: skip
        body = await read_yaml(request)
        given = {"profile": profile, "resolution": resolution, "variants": variants,
                 "formats": formats.split(",") if formats else None}  # fmt: skip
        run_id = await run_in_threadpool(start, cfg(request), request.app.state.worker, name, body, given)
        return {"run_id": run_id}

    @api.get("/runs", summary="Recent runs (as `briefcut runs ls --json`)")
    def list_runs(request: Request, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return {"runs": views.list_runs(cfg(request).workspace, limit)}

    @api.get("/runs/{run_id}", summary="A run: status, progress, takes and cuts (the shape of `run --json`, and more)")
    def get_run(request: Request, run_id: str) -> dict[str, Any]:
        view = views.run_view(cfg(request).workspace, run_id, request.app.state.worker.busy(run_id))
        if view is None:
            raise RunNotFound(f"no run '{run_id}' in {cfg(request).workspace.root}")
        return view

    @api.get("/runs/{run_id}/events", summary="The run's events as a server-sent event stream (resumes after Last-Event-ID)")
    async def events(request: Request, run_id: str, after: int = 0) -> StreamingResponse:
        after = int(request.headers.get("last-event-id") or after)
        return StreamingResponse(event_stream(request, run_id, after), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # fmt: skip

    @api.post("/runs/{run_id}/edits", summary="A chat edit's dry run: what will render again and what will not")
    def propose_edit(request: Request, run_id: str, edit: EditMessage) -> dict[str, Any]:
        from agent.edit.parse import HelpRequested
        from agent.studio.edits import EditConflict, propose

        if request.app.state.worker.busy(run_id):
            raise EditConflict(f"run {run_id} is busy; send the edit when it is done")
        try:
            return propose(cfg(request).workspace, run_id, edit.message, edit.plan)
        except HelpRequested as exc:
            return {"help": str(exc)}

    @api.post("/runs/{run_id}/edits/{edit_id}/confirm", status_code=202, summary="Apply a proposed edit (a new version renders)")
    def confirm_edit(request: Request, run_id: str, edit_id: str) -> dict[str, Any]:
        from agent.studio.edits import EditConflict, confirmable, mark_confirmed

        worker: Worker = request.app.state.worker
        with CONFIRM_LOCK:
            if worker.busy(run_id):
                raise EditConflict(f"run {run_id} is busy; confirm when it is done")
            edit = confirmable(cfg(request).workspace, run_id, edit_id)
            mark_confirmed(cfg(request).workspace, run_id, edit_id)
            worker.apply_edit(edit)
        return {"run_id": run_id, "edit_id": edit_id, "status": "queued"}

    @api.post("/runs/{run_id}/approve", summary="Approve cuts for export (replaces the last approval)")
    def approve(request: Request, run_id: str, approval: Approval = Body(...)) -> dict[str, Any]:
        from agent.store import cut_id

        store = cfg(request).workspace.store
        known = {cut_id(run_id, c["plan_key"], c["format"], c["version"]) for c in store.cuts(run_id)}
        unknown = [c for c in approval.cuts if c not in known]
        if unknown:
            raise RunNotFound(f"run {run_id} has no cut {', '.join(unknown)}")
        store.event(run_id, "approved", {"cuts": approval.cuts})
        return {"run_id": run_id, "approved": approval.cuts}

    @api.post("/runs/{run_id}/export", summary="A zip of the approved cuts with captions, scorecards and provenance")
    def export(request: Request, run_id: str) -> dict[str, Any]:
        from agent.studio.bundle import export_bundle

        ws = cfg(request).workspace
        path = export_bundle(ws, run_id, views.approved(ws.store.events(run_id)))
        return {"run_id": run_id, "bundle": security.media_url(ws.root, path), "bytes": path.stat().st_size}

    return api


def cfg(request: Request) -> StudioConfig:
    return request.app.state.config


async def read_yaml(request: Request) -> bytes:
    """The request body, if it is YAML and within the brief size limit."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in YAML_TYPES:
        raise UnsupportedType(f"send the brief as YAML (Content-Type: application/yaml), not '{kind or 'none'}'")
    size = request.headers.get("content-length")
    if size and size.isdigit() and int(size) > MAX_BRIEF_BYTES:
        raise uploads.UploadTooLarge(f"brief is larger than {MAX_BRIEF_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BRIEF_BYTES:
            raise uploads.UploadTooLarge(f"brief is larger than {MAX_BRIEF_BYTES} bytes")
    return bytes(body)


def start(config: StudioConfig, worker: Worker, name: str | None, body: bytes, given: dict[str, Any]) -> str:
    """Check the brief and its overrides as `briefcut run` does, keep its text, queue the run; its id."""
    from agent.runner import new_run_id, prepare_brief

    path, brief, text = uploads.check_upload(config.briefs_root, name, body)
    try:
        overrides = Overrides(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise BriefError(f"{err['loc'][0]}: {err['msg']}") from None
    prepare_brief(path, config.workspace, overrides, brief)  # backends and models checked before queueing
    kept = uploads.keep_text(config.workspace.root, text)
    run_id = new_run_id()
    upload = uploads.Upload(name=path.relative_to(config.briefs_root).as_posix(), root=config.briefs_root, kept=kept)
    worker.start_run(run_id, upload, overrides)
    return run_id


async def event_stream(request: Request, run_id: str, after: int) -> AsyncIterator[str]:
    """Server-sent events from the store's events table, after `after`, until the client goes away."""
    store = request.app.state.config.workspace.store
    yield "retry: 2000\n\n"
    quiet = 0.0
    while not await request.is_disconnected():
        rows = await run_in_threadpool(store.rows, "events", "run_id = ? and id > ?", [run_id, after], "id")
        for e in rows:
            after = e["id"]
            yield f"id: {e['id']}\nevent: {e['kind']}\ndata: {json.dumps({'ts': e['ts'], **e['data']}, default=str)}\n\n"
        quiet = 0.0 if rows else quiet + SSE_POLL_S
        if quiet >= SSE_HEARTBEAT_S:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(SSE_POLL_S)


# 3. the page and the media -------------------------------------------------------------------------
def add_pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/media/{path:path}", summary="A cut, still, caption file or export from the workspace (nothing else)")
    def media(request: Request, path: str) -> FileResponse:
        target = security.confined(cfg(request).workspace.root, path)
        if target is None:
            raise RunNotFound(f"no such media: {path}")
        return FileResponse(target)
