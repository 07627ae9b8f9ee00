"""The hub's OAuth 2.0 protected resource metadata (RFC 9728), as Mercure 1.0 describes it:
what a client needs to obtain and present a token for this hub, without prior configuration."""

from __future__ import annotations

import json

from . import _conf as conf
from ._endpoint import Request, hub_url, respond
from ._tokens import COOKIE_NAME_1_0
from .asgi import Receive, Scope, Send

AUTHORIZATION_DETAIL_TYPE = "https://mercure.rocks/authorization-detail"


def document(resource: str) -> dict[str, object]:
    """The metadata of the hub whose resource identifier is ``resource``."""
    servers = [issuer for issuer, trusted in conf.get("HUBBUB_TOKEN_ISSUERS").items() if trusted.get("jwks_url")]
    metadata: dict[str, object] = {
        "resource": resource,
        "authorization_details_types_supported": [AUTHORIZATION_DETAIL_TYPE],
        "bearer_methods_supported": ["header"],
        "mercure_cookie": COOKIE_NAME_1_0,
        "mercure_matcher_types_supported": ["exact", "urlpattern"],
    }
    if servers:
        metadata["authorization_servers"] = servers
    return metadata


class ResourceMetadata:
    """Serves the document at ``/.well-known/oauth-protected-resource/.well-known/mercure``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        if scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, f"method {scope['method']} is not allowed", [(b"allow", b"GET, HEAD")])
            return
        resource = conf.get("HUBBUB_TOKEN_AUDIENCE") or hub_url(request)
        body = json.dumps(document(resource)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"public, max-age=300"),
                    (b"access-control-allow-origin", b"*"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
