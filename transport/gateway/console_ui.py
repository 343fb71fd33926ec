"""The web console: static files at ``/ui/``, and ``/`` redirecting there.

The files ship in the package (``transport/gateway/console/``: HTML, CSS and plain JavaScript
modules, no build step, no CDN) and are served as they are, read once at start-up: only the
names found there are served, so no path can reach outside it. Every answer carries a
Content-Security-Policy that allows this origin's scripts, styles and API calls only (no inline
script, no inline style attribute, no framing). The console signs in with a client token kept in
the browser's ``sessionStorage`` and calls the client API with ``X-Client-Token``; the server
side holds no session.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).with_name("console")
PREFIX = "/ui/"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def load_files(root: Path = ROOT) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, content type) of every servable file under ``root``."""
    return {
        path.name: (path.read_bytes(), _TYPES[path.suffix])
        for path in sorted(root.iterdir())
        if path.is_file() and path.suffix in _TYPES
    }


def install(router: web.UrlDispatcher) -> None:
    """``GET /`` and ``GET /ui`` redirect to ``/ui/``; ``GET /ui/{name}`` serves a console file."""
    files = load_files()

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(PREFIX)

    async def serve(request: web.Request) -> web.Response:
        name = request.match_info.get("name") or "index.html"
        found = files.get(name)
        if found is None:
            raise web.HTTPNotFound(text=f"no console file {name!r}: open {PREFIX}")
        body, content_type = found
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=_HEADERS)

    router.add_get("/", redirect)
    router.add_get("/ui", redirect)
    router.add_get(PREFIX, serve)
    router.add_get(PREFIX + "{name}", serve)
