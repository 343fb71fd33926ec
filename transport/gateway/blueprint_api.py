"""``GET /api/v1/blueprints/{name}/graph``: a blueprint's graph, as DOT or drawn by Graphviz.

DOT (the default) is built in-process (``engine.graph``). SVG and PNG run Graphviz's ``dot``
executable in a thread; where it is not installed the answer is a JSON 501 naming it, so the
DOT route keeps working on a machine without Graphviz.
"""

from __future__ import annotations

import asyncio

import graphviz
from aiohttp import web

from engine.graph import build_graph, to_dot
from transport.gateway.auth import client_of
from transport.gateway.context import context_of

FORMATS = {"dot": "text/vnd.graphviz", "svg": "image/svg+xml", "png": "image/png"}
"""``?format=`` values and their content types."""


def render(dot: str, fmt: str) -> bytes:
    """``dot`` as bytes in ``fmt``, a key of ``FORMATS``. Blocking: any format but DOT runs Graphviz's
    ``dot`` executable, and raises ``graphviz.ExecutableNotFound`` when it is not installed."""
    if fmt == "dot":
        return dot.encode()
    return bytes(graphviz.pipe("dot", fmt, dot.encode()))


async def blueprint_graph(request: web.Request) -> web.Response:
    ctx = context_of(request)
    await client_of(request)
    fmt = request.query.get("format", "dot")
    if fmt not in FORMATS:
        raise web.HTTPBadRequest(text=f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    name = request.match_info["name"]
    bp = ctx.registry.get(name)
    if bp is None:
        raise web.HTTPNotFound(text=f"no blueprint named {name!r}")
    dot = to_dot(build_graph(bp))
    try:
        body = render(dot, fmt) if fmt == "dot" else await asyncio.to_thread(render, dot, fmt)
    except graphviz.ExecutableNotFound as exc:
        raise web.HTTPNotImplemented(
            text=f"format {fmt} needs Graphviz's 'dot' executable, which is not installed on this server; "
            "ask for format=dot"
        ) from exc
    return web.Response(body=body, content_type=FORMATS[fmt], charset="utf-8" if fmt != "png" else None)
