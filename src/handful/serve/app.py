"""The HTTP service: list saved models, show their cards, and predict from uploaded files or JSON texts.

Models are loaded once at start-up and looked up by name in a dictionary, so a name never becomes a path. From a
model registry root, each name's promoted version is served and a newly promoted one is picked up while running
(see :mod:`handful.serve.live`).
Every error is JSON ``{"error": ..., "detail": ...}`` with its status; no request can stop the server.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import tempfile
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from handful import _memory
from handful._version import __version__
from handful.artifacts.folder import MANIFEST
from handful.artifacts.store import is_registry
from handful.serve import uploads as uploads_mod
from handful.serve.live import RegistryModels
from handful.serve.schemas import (
    ErrorResponse,
    InputError,
    ModelCard,
    ModelList,
    PredictResponse,
    TextsRequest,
)
from handful.serve.served import Served, load_served
from handful.serve.settings import Settings

logger = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
DOCS_ASSETS = "/docs-assets"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 404, 413, 415, 422)
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiError(HTTPException):
    """An HTTP error with a machine-readable ``detail`` beside its message."""

    def __init__(self, status_code: int, error: str, detail: Any = None) -> None:
        super().__init__(status_code=status_code, detail=error)
        self.error, self.extra = error, detail


def find_models(source: str | Path) -> Mapping[str, Served]:
    """Load the model folder ``source``, or every model in its sub-folders (each named after its folder), or, from
    a model registry root, each name's promoted version (kept up to date while serving).

    Raises FileNotFoundError or ValueError when there is nothing to serve.
    """
    root = Path(source).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder. Give a saved model folder or a folder of model folders.")
    if is_registry(root):
        return RegistryModels(root)
    if (root / MANIFEST).is_file():
        folders = {root.name if NAME.match(root.name) and root.name.strip(".") else "model": root}
    else:
        folders = {}
        for sub in sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()):
            if NAME.match(sub.name) and sub.name.strip("."):
                folders[sub.name] = sub
            else:
                logger.warning("skipped %s: a model name may hold only letters, digits, '_', '.' and '-'", sub)
    if not folders:
        raise ValueError(f"{root} holds no model: expected {MANIFEST} in it or in its sub-folders.")
    return {name: load_served(name, folder) for name, folder in folders.items()}


def key_matches(header: str, key: str) -> bool:
    """Whether an X-API-Key header value carries ``key``, compared in constant time as bytes.

    HTTP header values are bytes, which the server hands over decoded as latin-1; encoding back gives the bytes
    the client sent. A non-ASCII key matches when sent as UTF-8 (what curl, browsers and most clients send) or,
    where the key fits in latin-1, as latin-1 (what Python's requests sends). Both comparisons always run.
    """
    raw = header.encode("latin-1", errors="replace")
    utf8 = hmac.compare_digest(raw, key.encode("utf-8"))
    try:
        latin = hmac.compare_digest(raw, key.encode("latin-1"))
    except UnicodeEncodeError:
        latin = hmac.compare_digest(raw, key.encode("utf-8"))  # same work, same answer as the UTF-8 comparison
    return utf8 | latin


REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")  # e.g. PIL's "cannot identify image file <_io.BytesIO ...>"


def _error(status: int, error: str, detail: Any = None) -> JSONResponse:
    """An error answer; no Python object's repr reaches the client (it says nothing to a user, and leaks)."""
    body = json.loads(REPR.sub("the uploaded data", json.dumps({"error": error, "detail": detail}, default=str)))
    return JSONResponse(body, status_code=status)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before anything parses them (pure ASGI middleware).

    A body with a too-large Content-Length is refused at once; any other body is read up to the limit and
    replayed to the app, so a chunked upload cannot slip past it.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_big = _error(413, f"the request body is over the {self.limit / 1024 / 1024:g} MB limit",
                         {"limit_bytes": self.limit})
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await too_big(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await too_big(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, sent = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def create_app(source: str | Path | Mapping[str, Served], settings: Settings | None = None) -> FastAPI:
    """The FastAPI app serving the model(s) at ``source`` (a model folder or a folder of model folders).

    Example:
        >>> import uvicorn
        >>> from handful.serve import create_app
        >>> uvicorn.run(create_app("models/"), host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    settings = settings or Settings()
    models = source if isinstance(source, Mapping) else find_models(source)
    api = FastAPI(title="handful", version=__version__, docs_url=None, redoc_url=None,
                  description="Predict with models trained by handful. Errors are JSON {error, detail}.")
    api.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    gate = uploads_mod.Gate()
    _memory.for_serving()  # large decoded buffers go back to the system when freed (see there)
    _offline_docs(api)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if isinstance(error, ApiError):
            return _error(error.status_code, error.error, error.extra)
        return _error(error.status_code, str(error.detail))

    @api.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, "the request is not valid", _plain(error.errors()))

    @api.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal error", type(error).__name__)

    def authorised(request: Request) -> None:
        if settings.api_key is None:
            return
        if not key_matches(request.headers.get("x-api-key", ""), settings.api_key.get_secret_value()):
            raise ApiError(401, "missing or wrong API key", "send the key in the X-API-Key header")

    def served(name: str) -> Served:
        if not NAME.match(name) or not name.strip(".") or len(name) > 255:
            raise ApiError(422, "invalid model name",
                           "a name holds only letters, digits, '_', '.' and '-', at most 255 of them")
        if name not in models:
            raise ApiError(404, f"no model named {name!r}", {"models": sorted(models)})
        return models[name]

    page = resources.files("handful.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @api.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": len(models)}

    @api.get("/v1/models", response_model=ModelList, responses=ERRORS, dependencies=[Depends(authorised)])
    def list_models() -> ModelList:
        return ModelList(models=[m.info() for m in models.values()])

    @api.api_route("/v1/models/{name}:predict", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def wrong_method(name: str, request: Request) -> JSONResponse:
        """Before the card's route, which would read "x:predict" as a (bad) model name and answer 422."""
        return JSONResponse({"error": f"{request.method} is not allowed here: send POST to predict",
                             "detail": {"allowed": ["POST"]}}, status_code=405, headers={"Allow": "POST"})

    @api.get("/v1/models/{name}/report", response_class=HTMLResponse, dependencies=[Depends(authorised)],
             include_in_schema=False)  # a page for people (linked from /), not part of the API
    def model_report(name: str) -> HTMLResponse:
        """The model's HTML report (what `handful report` writes): scores, mistakes, the learning curve."""
        return HTMLResponse(served(name).clf.report_.html())

    @api.get("/v1/models/{name}", response_model=ModelCard, responses=ERRORS, dependencies=[Depends(authorised)])
    def model_card(name: str) -> ModelCard:
        return served(name).card()

    body_doc = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": TextsRequest.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "top_k": {"type": "integer", "default": 3}}}},
    }}}

    @api.post("/v1/models/{name}:predict", response_model=PredictResponse, responses=ERRORS,
              dependencies=[Depends(authorised)], openapi_extra=body_doc)
    async def predict(name: str, request: Request) -> PredictResponse:
        """Top-k labels per input: image/audio models take multipart ``files``; text models JSON ``texts``."""
        model = served(name)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        text_model = model.clf.modality_ == "text"
        if text_model and kind == "application/json":
            texts, top_k = _texts(await request.body(), settings)
            return await run_in_threadpool(_run, model, texts, texts, top_k)
        if not text_model and kind == "multipart/form-data":
            files, top_k = await _uploads(request, settings)
            return await run_in_threadpool(_predict_files, model, files, top_k, settings, gate)
        wanted = "JSON {\"texts\": [...]}" if text_model else "multipart/form-data with one or more 'files'"
        raise ApiError(415, f"model {name!r} takes {model.clf.modality_} input: send {wanted}",
                       {"content_type": kind or None})

    return api


def _offline_docs(api: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc from the files the fastapi-offline package ships (no CDN)."""
    assets = resources.files("fastapi_offline").joinpath("static")
    api.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @api.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="handful API",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})  # the badge calls a web service

    @api.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="handful API", with_google_fonts=False,
                              redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png")


def _plain(value: Any) -> Any:
    """Validation errors as plain JSON (pydantic may put exceptions or bytes inside them)."""
    return json.loads(json.dumps(value, default=str))


def _texts(raw: bytes, settings: Settings) -> tuple[list[str], int]:
    try:
        body = TextsRequest.model_validate_json(raw)
    except ValidationError as error:
        raise ApiError(422, "the JSON body is not valid: expected {\"texts\": [\"...\"], \"top_k\": 3}",
                       _plain(error.errors(include_url=False))) from error
    if len(body.texts) > settings.max_batch:
        raise ApiError(413, f"{len(body.texts)} texts, over the batch limit of {settings.max_batch}",
                       {"max_batch": settings.max_batch})
    for index, text in enumerate(body.texts):
        if not text.strip():
            raise ApiError(422, f"text {index} is empty", {"index": index})
        if len(text) > settings.max_text_chars:
            raise ApiError(422, f"text {index} has {len(text):,} characters, over the limit of "
                           f"{settings.max_text_chars:,}", {"index": index, "max_text_chars": settings.max_text_chars})
    return body.texts, body.top_k


async def _uploads(request: Request, settings: Settings) -> tuple[list[tuple[str, bytes]], int]:
    try:
        form = await request.form(max_files=settings.max_batch + 1, max_fields=20)
    except Exception as error:  # a malformed or over-long multipart body
        raise ApiError(422 if "Too many" not in str(error) else 413, "the multipart body cannot be read",
                       str(getattr(error, "detail", error))) from error
    try:
        files = [item for item in form.getlist("files") if isinstance(item, UploadFile)]
        if not files:
            raise ApiError(422, "no files: send one or more files in the multipart field 'files'")
        if len(files) > settings.max_batch:
            raise ApiError(413, f"{len(files)} files, over the batch limit of {settings.max_batch}",
                           {"max_batch": settings.max_batch})
        raw_k = form.get("top_k", "3")
        if not isinstance(raw_k, str) or not raw_k.strip().isdigit() or not 1 <= int(raw_k) <= 100:
            raise ApiError(422, "top_k must be a whole number from 1 to 100", {"top_k": str(raw_k)})
        return [(f.filename or f"file {i}", await f.read()) for i, f in enumerate(files)], int(raw_k)
    finally:
        await form.close()


def _predict_files(model: Served, uploads: list[tuple[str, bytes]], top_k: int, settings: Settings,
                   gate: uploads_mod.Gate) -> PredictResponse:
    """Predict the uploads; a batch with some unreadable files answers the readable ones and names the bad ones in
    ``errors`` (as the CLI does). The whole request is refused (with every bad file named) when no file is
    readable, when a size limit is passed (413), or when file names repeat (the answer could not say which)."""
    try:
        return _decode_and_run(model, uploads, top_k, settings, gate)
    except uploads_mod.UploadError as error:
        names = [name for name, _ in uploads]
        bad = {b["file"]: b["reason"] for b in error.bad}
        if error.status != 415 or len(set(names)) != len(names) or len(bad) >= len(names):
            raise ApiError(error.status, error.message, error.bad) from error
        try:
            answer = _decode_and_run(model, [(n, d) for n, d in uploads if n not in bad], top_k, settings, gate)
        except uploads_mod.UploadError as again:
            raise ApiError(again.status, again.message, again.bad) from again
        errors = [InputError(input=n, error=REPR.sub("the uploaded data", r)) for n, r in bad.items()]
        return answer.model_copy(update={"errors": errors})


def _decode_and_run(model: Served, uploads: list[tuple[str, bytes]], top_k: int, settings: Settings,
                    gate: uploads_mod.Gate) -> PredictResponse:
    """Check every upload's header against the limits (per file and summed over the request), decode each from
    its bytes (the content decides, not the name) into a clean small copy, then predict from the copies.

    Unreadable files raise UploadError 415; files that are all readable but over a pixel, duration or
    per-request limit, 413. Either way the error names every bad file and why.
    """
    image = model.clf.modality_ == "image"
    costs: list[int] = []
    try:
        rate = None if image else uploads_mod.sample_rate(model.clf.backbone_)
        with tempfile.TemporaryDirectory(prefix="handful-serve-") as folder:
            paths = uploads_mod.decode_all(uploads, image, Path(folder), rate, settings, gate, costs)
            names = [name for name, _ in uploads]
            return _run(model, paths, names, top_k)
    finally:
        uploads_mod.release(gate, costs)


def _run(model: Served, inputs: list[Any], shown: list[str], top_k: int) -> PredictResponse:
    scored = model.predict_with_distance(inputs)  # batched with the other requests waiting for the same model
    predictions = model.clf.records(shown, scored[:, :-1], scored[:, -1], top_k)
    return PredictResponse.model_validate({"model": model.name, "predictions": predictions})
