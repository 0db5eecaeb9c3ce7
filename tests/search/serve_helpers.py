"""Helpers for the `ogfr serve` tests: a built index over the test gallery, a real server in a thread, HTTP."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ogfr.search.build import build_index
from ogfr.search.embed import Embedder
from ogfr.search.index import Index
from ogfr.serve import SearchService, create_app


def build(checkpoint: Path, gallery: Path, out: Path) -> Path:
    """Index ``gallery`` with ``checkpoint`` (z = 0, the index records the checkpoint); returns ``out``."""
    embedder = Embedder.from_checkpoint(checkpoint, occlusion="visible")
    build_index(embedder, gallery, out, progress=False, info={"checkpoint": str(checkpoint)})
    return out


def service_for(checkpoint: Path, index: Path, **kwargs) -> SearchService:
    """The page's service over a built index."""
    embedder = Embedder.from_checkpoint(checkpoint, occlusion="visible")
    return SearchService(embedder, Index.open(index, model=embedder.identity), **kwargs)


@contextmanager
def serving(service: SearchService, **app_kwargs) -> Iterator[str]:
    """A uvicorn server on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    config = uvicorn.Config(create_app(service, **app_kwargs), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def http(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET (or a POST with ``data``); HTTP errors are returned, not raised."""
    req = urllib.request.Request(
        url, data=data, headers=headers or {}, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def get_json(url: str, data: bytes | None = None) -> dict:
    status, _, body = http(url, data)
    assert status == 200, (status, body)
    return json.loads(body)
