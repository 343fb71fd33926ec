"""The OpenAPI 3.1 document of a gateway, built from its app at start-up.

Every route the app's router holds is looked up in ``operations.OPS`` by method and canonical
path (job-creation routes: one per registered blueprint, from the registry); a route without an
entry is left out (the test suite refuses that). Schemas come from msgspec Structs (rxon's models
for the worker API, ``models`` for the client API) through ``msgspec.json.schema_components``,
which writes JSON Schema 2020-12, the dialect OpenAPI 3.1 uses. ``HEAD`` routes (aiohttp adds
one per ``GET``) are implied, not listed.
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Any

import msgspec
from aiohttp import web
from rxon.constants import AUTH_HEADER_CLIENT, AUTH_HEADER_WORKER, AUTH_HEADER_WORKER_ID, PROTOCOL_VERSION

from engine.blueprint import StateMachineBlueprint
from transport.gateway.context import CONTEXT
from transport.gateway.openapi import models as m
from transport.gateway.openapi.operations import (
    APPROVAL,
    ARRAY,
    BINARY,
    CLIENT,
    DISABLED,
    DISABLED_METHODS,
    DOT,
    EVENTS,
    HTML,
    OBJECT,
    OPS,
    PROMETHEUS,
    SIGNED,
    WORKER,
    Op,
)

REF = "#/components/schemas/{name}"
_AUTH_ERRORS = {CLIENT: (401, 403, 429), WORKER: (401, 403, 429), APPROVAL: (401, 403), SIGNED: (403,)}
_NO_BODY = frozenset({101, 204, 302})
_REASONS = {
    204: "nothing came in time",
    302: "redirect to the object in S3",
    400: "bad request: the body or a parameter is invalid (named in error)",
    401: "no token, or (workers) a wrong one",
    403: "a wrong token, or one that may not do this",
    404: "not found (another client's job reads as not found)",
    409: "conflict with the job's state",
    413: "body larger than MAX_REQUEST_BODY_BYTES",
    429: "rate limit or quota spent (Retry-After)",
    501: "not configured on this orchestrator",
    503: "a backing service is away (Retry-After)",
}


def build(app: web.Application) -> dict[str, Any]:
    """The document of ``app``: every routed operation that has a description."""
    ctx = app[CONTEXT]
    creates = {("POST", ctx.registry.path_of(bp)): _create_op(bp) for bp in ctx.registry}
    ops: dict[tuple[str, str], Op] = {}
    for route in app.router.routes():
        resource = route.resource
        if route.method == "HEAD" or resource is None:
            continue
        path = resource.canonical
        if route.method == "*":
            ops.update({(method, path): DISABLED for method in DISABLED_METHODS})
        elif (op := creates.get((route.method, path)) or OPS.get((route.method, path))) is not None:
            ops[route.method, path] = op
    structs = sorted({t for op in ops.values() for t in _structs(op)}, key=lambda t: t.__name__)
    _, schemas = msgspec.json.schema_components([m.Error, *structs], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in sorted(ops.items()):
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "avtomat",
            "version": importlib.metadata.version("avtomat"),
            "description": "The orchestrator's HTTP API: the client API, the RXON worker API "
            f"(protocol {PROTOCOL_VERSION}) and the public routes.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ClientToken": {"type": "apiKey", "in": "header", "name": AUTH_HEADER_CLIENT},
                "WorkerToken": {"type": "apiKey", "in": "header", "name": AUTH_HEADER_WORKER},
            },
        },
    }


def _create_op(bp: StateMachineBlueprint) -> Op:
    return Op(
        f"Create a job of blueprint {bp.name!r}",
        "jobs",
        CLIENT,
        (202, m.JobAccepted, "the job is stored and queued"),
        body=m.JobRequest,
        errors=(400, 413, 503),
        description=f"Starts in state {bp.start_state!r}.",
    )


def _structs(op: Op) -> list[type[msgspec.Struct]]:
    found = [op.body, op.ok[1][0] if isinstance(op.ok[1], list) else op.ok[1]]
    return [t for t in found if isinstance(t, type) and issubclass(t, msgspec.Struct)]


def _operation(method: str, path: str, op: Op) -> dict[str, Any]:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{method.lower()}_{slug}",
        "tags": [op.tag],
        "parameters": _parameters(path, op),
        "responses": _responses(op),
    }
    if op.description:
        out["description"] = op.description
    out["security"] = {
        CLIENT: [{"ClientToken": []}],
        WORKER: [{"WorkerToken": []}],
        APPROVAL: [{}, {"ClientToken": []}],
    }.get(op.auth, [])
    if op.body is not None:
        out["requestBody"] = {"required": not op.optional_body, "content": _content(op.body)}
    return out


def _parameters(path: str, op: Op) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in re.findall(r"{(\w+)}", path)
    ]
    params += [
        {"name": p.name, "in": "query", "required": p.required, "description": p.description, "schema": p.schema}
        for p in op.query
    ]
    if op.auth == WORKER:
        params.append(
            {
                "name": AUTH_HEADER_WORKER_ID,
                "in": "header",
                "required": False,
                "description": "the worker the request acts as (with GLOBAL_WORKER_TOKEN)",
                "schema": {"type": "string"},
            }
        )
    if op.auth == SIGNED:
        params += [
            {"name": "expires", "in": "query", "required": True, "schema": {"type": "integer"}},
            {"name": "signature", "in": "query", "required": True, "schema": {"type": "string"}},
        ]
    return params


def _responses(op: Op) -> dict[str, Any]:
    status, answer, words = op.ok
    responses: dict[str, Any] = {str(status): {"description": words}}
    if answer is not None and status not in _NO_BODY:
        responses[str(status)]["content"] = _content(answer)
    errors = set(op.errors) | set(_AUTH_ERRORS.get(op.auth, ()))
    for code in sorted(errors - {status}):
        responses[str(code)] = {"description": _REASONS.get(code, "error")}
        if code not in _NO_BODY:
            responses[str(code)]["content"] = _content(m.Error)
    return responses


def _content(kind: Any) -> dict[str, Any]:
    if kind == BINARY:
        octets = "application/octet-stream"
        return {octets: {"schema": {"type": "string", "contentMediaType": octets}}}
    if kind == HTML:
        return {"text/html": {"schema": {"type": "string"}}}
    if kind == DOT:
        return {
            "text/vnd.graphviz": {"schema": {"type": "string"}},
            "image/svg+xml": {"schema": {"type": "string"}},
            "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
        }
    if kind in ("openapi", OBJECT):
        return {"application/json": {"schema": {"type": "object"}}}
    if kind == ARRAY:
        return {"application/json": {"schema": {"type": "array"}}}
    if kind == EVENTS:
        return {"text/event-stream": {"schema": {"type": "string"}}}
    if kind == PROMETHEUS:
        return {"text/plain": {"schema": {"type": "string"}}}
    if isinstance(kind, list):
        return {"application/json": {"schema": {"type": "array", "items": _ref(kind[0])}}}
    return {"application/json": {"schema": _ref(kind)}}


def _ref(kind: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": REF.format(name=kind.__name__)}
