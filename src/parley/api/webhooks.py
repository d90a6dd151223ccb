"""/webhooks/{webhookId}[/path]: where outside services reach an installed integration. No
authentication: the webhook id is the secret. Every method is relayed (dispatch.relay)."""

import re

from parley.api.common import services
from parley.api.routing import Answer, Call, any_method
from parley.dispatch.relay import Inbound
from parley.errors import ResourceNotFound

# What Parley hands out (32 hex digits), and the ids of installations made before that.
_WEBHOOK_ID = re.compile(r"[0-9A-Za-z_-]{16,64}")


@any_method("/webhooks/{webhook_id}/{path...}")
async def relay_webhook(request: Call, webhook_id: str, path: str) -> Answer:
    if _WEBHOOK_ID.fullmatch(webhook_id) is None:
        raise ResourceNotFound(f"Webhook {webhook_id[:64]!r} not found.")
    relay = services(request).relay
    body = await request.body()
    inbound = Inbound(
        method=request.scope["method"],
        path=_path_after(request, webhook_id, path),
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=_headers(request),
        body=body,
    )
    answer = await relay.forward(webhook_id, inbound)
    return Answer(answer.body, answer.status, headers=answer.headers)


def _path_after(request: Call, webhook_id: str, path: str) -> str:
    """The path after the webhook id as the caller wrote it (percent-escapes and a trailing slash
    kept), `/` when there is none."""
    raw = request.scope.get("raw_path")
    if raw:
        _, found, after = raw.decode("latin-1").partition(f"/{webhook_id}")
        if found:
            return after or "/"
    return f"/{path}"


def _headers(request: Call) -> dict[str, str]:
    """The request's headers, names in lower case; a header sent more than once is joined with
    commas, as HTTP allows."""
    headers: dict[str, str] = {}
    for name, value in request.scope["headers"]:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


operations = [relay_webhook]
