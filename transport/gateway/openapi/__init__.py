"""The OpenAPI 3.1 document of the gateway (``/_public/openapi.json``) and the page that renders
it (``/_public/docs``)."""

from transport.gateway.openapi.document import build
from transport.gateway.openapi.routes import docs_page, install, openapi_json

__all__ = ["build", "docs_page", "install", "openapi_json"]
