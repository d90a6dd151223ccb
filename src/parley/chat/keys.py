"""User keys: HS256 JSON Web Tokens whose payload names the user (`{"id": ..., "iat": ...}`).

Written here rather than borrowed: the Chat API needs one algorithm, signing and verifying, and
the checks a verifier must make (the header names HS256 and nothing else, the signature compared
in constant time, `exp` and `nbf` honoured when present) fit in this module."""

import base64
import binascii
import hashlib
import hmac
import time

import msgspec

_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


class InvalidKey(Exception):
    """The key is malformed, not signed with the secret, or no longer valid."""


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _unb64(part: bytes) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidKey("not base64url") from None


def _signature(secret: str, signed: bytes) -> bytes:
    return hmac.new(secret.encode(), signed, hashlib.sha256).digest()


def sign(secret: str, user_id: str, *, now: float | None = None) -> str:
    """A key for `user_id`, issued now."""
    payload = _b64(msgspec.json.encode({"id": user_id, "iat": int(time.time() if now is None else now)}))
    signed = _HEADER + b"." + payload
    return (signed + b"." + _b64(_signature(secret, signed))).decode()


def verify(secret: str, key: str, *, now: float | None = None) -> str:
    """The user id a valid key names; InvalidKey otherwise."""
    parts = key.encode("utf-8", errors="replace").split(b".")
    if len(parts) != 3:
        raise InvalidKey("not a JSON Web Token")
    header_part, payload_part, signature_part = parts
    if not hmac.compare_digest(_signature(secret, header_part + b"." + payload_part), _unb64(signature_part)):
        raise InvalidKey("bad signature")
    try:
        header = msgspec.json.decode(_unb64(header_part))
        payload = msgspec.json.decode(_unb64(payload_part))
    except msgspec.DecodeError:
        raise InvalidKey("not JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(payload, dict):
        raise InvalidKey("not an HS256 token")
    moment = time.time() if now is None else now
    expires, not_before = payload.get("exp"), payload.get("nbf")
    if expires is not None and (not isinstance(expires, int | float) or moment >= expires):
        raise InvalidKey("expired")
    if not_before is not None and (not isinstance(not_before, int | float) or moment < not_before):
        raise InvalidKey("not valid yet")
    user_id = payload.get("id")
    if not isinstance(user_id, str) or not user_id:
        raise InvalidKey("no user id")
    return user_id
