"""``GET /_public/openapi.json`` and ``GET /_public/docs``: public, no token.

The document is built once, when the app starts (its routes are fixed by then), and served as
the same bytes after. The docs page is ``docs.html``, a page of this package (no CDN, nothing
fetched from elsewhere) that reads the document and renders it: the operations by tag, their
parameters, bodies and answers, and a form that sends a request with the tokens typed in.
"""

from __future__ import annotations

import importlib.resources

import orjson
from aiohttp import web

from transport.gateway.openapi.document import build

DOCUMENT = web.AppKey("openapi_document", bytearray)
DOCS_PAGE = importlib.resources.files(__package__).joinpath("docs.html").read_bytes()


def install(app: web.Application) -> None:
    """Route the two pages and build the document when the app starts."""
    app[DOCUMENT] = bytearray()
    app.router.add_get("/_public/openapi.json", openapi_json)
    app.router.add_get("/_public/docs", docs_page)
    app.on_startup.append(_build)


async def _build(app: web.Application) -> None:
    app[DOCUMENT][:] = orjson.dumps(build(app))


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=bytes(request.app[DOCUMENT]), content_type="application/json")


async def docs_page(request: web.Request) -> web.Response:
    return web.Response(body=DOCS_PAGE, content_type="text/html", charset="utf-8")
