"""/console: the console's files, answered from the package with their content types.

The files are read once, when the first request asks for one, and kept with their ETag: the
console is a few small static files, and a browser revalidates them (`no-cache`) with a request
answered 304 from memory. Every page the console shows comes from the Admin and Runtime APIs
with the operator's token, which the server checks on each call; these files reveal nothing.
"""

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from parley.api.routing import Answer, Call, get
from parley.errors import ResourceNotFound

_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
}
# Scripts and styles from these files only (no inline script can run, whatever a message holds);
# calls to this origin only; media a message points to may come from anywhere.
_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    b"img-src 'self' http: https: data:; media-src http: https:; "
    b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"cache-control", b"no-cache"),
    (b"content-security-policy", _POLICY),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
INDEX = "index.html"


@dataclass(frozen=True)
class _File:
    body: bytes
    content_type: bytes
    etag: bytes


@cache
def _files() -> dict[str, _File]:
    """The static files by name (no folders: the console is flat)."""
    found: dict[str, _File] = {}
    for entry in resources.files("parley.console").joinpath("static").iterdir():
        content_type = _TYPES.get("." + entry.name.rpartition(".")[2])
        if content_type is None or not entry.is_file():
            continue
        body = entry.read_bytes()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
        found[entry.name] = _File(body, content_type, etag)
    return found


@get("/console/{path...}")
async def console_file(request: Call, path: str) -> Answer:
    """`/console` and `/console/` are the page; `/console/<name>` its scripts and styles."""
    file = _files().get(path or INDEX)
    if file is None:
        raise ResourceNotFound(f"The console has no file {path!r}.")
    headers = [(b"etag", file.etag), *_HEADERS]
    if request.headers.get("if-none-match") == file.etag.decode():
        return Answer(b"", status=304, headers=headers)
    return Answer(file.body, headers=[(b"content-type", file.content_type), *headers])


operations = [console_file]
