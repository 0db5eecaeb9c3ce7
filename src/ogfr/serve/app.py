"""The HTTP side of ``ogfr serve``: a Starlette app with a static page (plain HTML + JS) and a JSON API.

Routes (all errors are JSON ``{"error": message}``, which the page shows)::

    GET  /                              the page (static/index.html, app.js, style.css)
    GET  /api/info                      gallery size, cameras, parts, model settings
    GET  /api/gallery?page&per_page&camera   a page of gallery images (click one to search with it)
    GET  /api/gallery/{row}.jpg         a gallery image, opened through Index.resolve, re-encoded
    POST /api/query                     body: the image bytes of an upload (at most ``max_upload`` bytes)
    POST /api/query/gallery/{row}       a gallery image as the query
    GET  /api/query/{id}                the query's code z, visibility flags and pictures
    GET  /api/query/{id}/{kind}         kind: image (JPEG), part_map, erasing (PNG)
    GET  /api/search?query&page&per_page&camera   a page of the query's ranking by eq. 25

Host headers are checked (only the names given in ``allowed_hosts``, loopback by default), so that a web
page elsewhere cannot reach the server through DNS rebinding.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ogfr.serve.service import NotFound, SearchService

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD = 10 * 1024 * 1024  # bytes of one uploaded query image
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_PAGE_HEADERS = {
    **_HEADERS,
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'",
}


class UploadTooLarge(ValueError):
    """An upload over the size limit (HTTP 413)."""


def create_app(
    service: SearchService,
    *,
    max_upload: int = MAX_UPLOAD,
    allowed_hosts: tuple[str, ...] | list[str] = LOOPBACK_HOSTS,
) -> Starlette:
    """The search page and its API over ``service``."""

    def arg(request: Request, name: str, default: int | None) -> int | None:
        value = request.query_params.get(name)
        if value is None or value in ("", "all"):
            return default
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {value!r}") from None

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    async def info(request: Request) -> Response:
        return _json({**service.info(), "max_upload": max_upload})

    async def gallery(request: Request) -> Response:
        page_, per_page, camera = (
            arg(request, "page", 0),
            arg(request, "per_page", 24),
            arg(request, "camera", None),
        )
        return _json(await run_in_threadpool(service.gallery_page, page_, per_page, camera))

    async def gallery_image(request: Request) -> Response:
        data = await run_in_threadpool(service.gallery_image, request.path_params["row"])
        return Response(
            data, media_type="image/jpeg", headers={**_HEADERS, "Cache-Control": "private, max-age=600"}
        )

    async def upload(request: Request) -> Response:
        data = await _read_limited(request, max_upload)
        if not data:
            raise ValueError("the upload is empty: choose an image file")
        name = unquote(request.headers.get("x-filename", "upload"))
        q = await run_in_threadpool(service.query_from_upload, data, name)
        return _json(service.describe(q))

    async def gallery_query(request: Request) -> Response:
        q = await run_in_threadpool(service.query_from_row, request.path_params["row"])
        return _json(service.describe(q))

    async def query(request: Request) -> Response:
        q = await run_in_threadpool(service.query, request.path_params["qid"])
        return _json(service.describe(q))

    async def picture(request: Request) -> Response:
        kind = request.path_params["kind"]
        data = await run_in_threadpool(service.picture, request.path_params["qid"], kind)
        return Response(data, media_type="image/jpeg" if kind == "image" else "image/png", headers=_HEADERS)

    async def search(request: Request) -> Response:
        qid = request.query_params.get("query")
        if not qid:
            raise ValueError("search needs ?query=ID (upload or pick a query image first)")
        result = await run_in_threadpool(
            service.results,
            qid,
            arg(request, "page", 0),
            arg(request, "per_page", 10),
            arg(request, "camera", None),
        )
        return _json(result)

    routes = [
        Route("/", page),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/info", info),
        Route("/api/gallery", gallery),
        Route("/api/gallery/{row:int}.jpg", gallery_image),
        Route("/api/query", upload, methods=["POST"]),
        Route("/api/query/gallery/{row:int}", gallery_query, methods=["POST"]),
        Route("/api/query/{qid:str}", query),
        Route("/api/query/{qid:str}/{kind:str}", picture),
        Route("/api/search", search),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {
        UploadTooLarge: _error(413),
        NotFound: _error(404),
        ValueError: _error(400),  # includes UnreadableImage, which names the upload and the reason
        HTTPException: _http_error,
        Exception: _internal_error,
    }
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))]
    return Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)


async def _read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it exceeds ``limit`` bytes (declared or actually sent)."""
    declared = request.headers.get("content-length")
    shown = f"{limit / 2**20:.1f} MB" if limit >= 2**20 else f"{limit:,} bytes"
    too_big = f"the upload is larger than the limit of {shown}"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(too_big)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def _json(obj: object) -> JSONResponse:
    return JSONResponse(obj, headers=_HEADERS)


def _error(status: int):
    async def handler(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=status, headers=_HEADERS)

    return handler


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=_HEADERS)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the exception after this response, so the server's log gets the traceback.
    return JSONResponse(
        {"error": f"internal error ({exc.__class__.__name__}: {exc}); see the server's log"},
        status_code=500,
        headers=_HEADERS,
    )
