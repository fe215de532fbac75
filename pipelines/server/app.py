"""The HTTP application: TF Serving's REST API over a :class:`ModelStore`, the model list the
web pages read, ``/healthz`` and the pages themselves.

Predict requests are parsed, checked and run in the worker thread pool, so the event loop only
moves bytes and several requests run at once (TensorFlow releases the GIL while a signature
runs). Every answer that is not a success is ``{"error": "<one line>"}`` with its status.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from pipelines.server.model_store import ModelStore
from pipelines.server.request_error import RequestError
from pipelines.server.request_log import RequestLog
from pipelines.server.run_exports import VERSION
from pipelines.server.tensor_json import parse_body, request_arrays, response

if TYPE_CHECKING:  # it imports TensorFlow; the app itself does not need to
    from pipelines.server.served_model import ServedModel

PAGES = Path(__file__).resolve().parent / "pages"
MAX_BODY_MB = 64


def json_response(content: Any, status: int = 200) -> Response:
    """JSON as TF Serving writes it: UTF-8 text, NaN/Infinity as bare words."""
    text = json.dumps(content, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
    return Response(text.encode("utf-8"), status_code=status, media_type="application/json")


def error_response(status: int, message: str) -> Response:
    """``{"error": message}`` on one line, with HTTP ``status``."""
    return json_response({"error": " ".join(str(message).split())}, status)


def create_app(
    models: ModelStore, pages: Path = PAGES, max_body_mb: float = MAX_BODY_MB, log: Any = None
) -> FastAPI:
    """The application serving ``models``; static pages from ``pages``; request bodies over
    ``max_body_mb`` MB refused (413); one request-log line per request to ``log`` (stderr)."""
    app = FastAPI(title="pipelines serve", docs_url=None, redoc_url=None, openapi_url=None)
    max_body = int(max_body_mb * 1_000_000)

    app.add_middleware(RequestLog, log=log)

    @app.exception_handler(RequestError)
    async def refused(_: Request, err: RequestError) -> Response:
        return error_response(err.status, err.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> Response:
        if err.status_code == 404:
            return error_response(404, f"not found: {request.url.path}")
        return error_response(err.status_code, err.detail)

    @app.exception_handler(Exception)
    async def bug(_: Request, err: Exception) -> Response:
        traceback.print_exc()
        return error_response(500, f"internal error: {type(err).__name__}: {err}")

    @app.get("/healthz")
    def healthz() -> Response:
        return json_response({"status": "ok", "models": list(models.models)})

    @app.get("/v1/models")
    def model_list() -> Response:
        return json_response({"models": [m.summary() for m in models]})

    @app.get("/v1/models/{name}")
    def model_status(name: str) -> Response:
        return json_response(models.get(name).status())

    @app.get("/v1/models/{name}/versions/{version}")
    def version_status(name: str, version: str) -> Response:
        return json_response(_versioned(models, name, version).status())

    @app.get("/v1/models/{name}/metadata")
    def metadata(name: str) -> Response:
        return json_response(models.get(name).metadata())

    @app.get("/v1/models/{name}/versions/{version}/metadata")
    def version_metadata(name: str, version: str) -> Response:
        return json_response(_versioned(models, name, version).metadata())

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request) -> Response:
        model = models.get(name)
        return await run_in_threadpool(_predict, model, await _body(request, max_body))

    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def version_predict(name: str, version: str, request: Request) -> Response:
        model = _versioned(models, name, version)
        return await run_in_threadpool(_predict, model, await _body(request, max_body))

    @app.get("/")
    def index() -> Response:
        page = pages / "index.html"
        if not page.is_file():
            return error_response(404, f"no page: {page} does not exist")
        return FileResponse(page)

    app.mount("/pages", StaticFiles(directory=pages, check_dir=False), name="pages")
    return app


def _versioned(models: ModelStore, name: str, version: str) -> ServedModel:
    model = models.get(name)
    if version != VERSION:
        raise RequestError(404, f"model {name!r} has no version {version} (serving {VERSION})")
    return model


async def _body(request: Request, max_body: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``max_body`` bytes."""
    limit = f"the request body is over {max_body / 1e6:g} MB (serve --max-body-mb)"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise RequestError(413, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise RequestError(413, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _predict(model: ServedModel, body: bytes) -> Response:
    """One predict request, start to end (runs in a worker thread)."""
    try:
        data = parse_body(body)
        signature = model.signature(data.get("signature_name"))
        arrays, rows = request_arrays(data, model.inputs[signature], model.bounds.max_batch)
        outputs = model.predict(signature, arrays)
        batch = len(next(iter(arrays.values()))) if rows else None
        return json_response(response(outputs, rows, batch))
    except RequestError as err:
        return error_response(err.status, err.message)
