"""The contract's error types: one exception class per type, each with its HTTP status."""

import os
import time
from typing import Any, ClassVar


class ApiError(Exception):
    """An error the API answers as `{id, code, type, message}`."""

    type: ClassVar[str] = "Unknown"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = metadata

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": new_error_id(),
            "code": self.status,
            "type": self.type,
            "message": self.message,
        }
        if self.metadata:
            body["metadata"] = self.metadata
        return body


def new_error_id() -> str:
    """`err_<UTC YYYYMMDDHHMMSS>x<8 hex>`, the form the official client produces."""
    return f"err_{time.strftime('%Y%m%d%H%M%S', time.gmtime())}x{os.urandom(4).hex().upper()}"


class Internal(ApiError):
    type = "Internal"
    status = 500


class Unauthorized(ApiError):
    type = "Unauthorized"
    status = 401


class Forbidden(ApiError):
    type = "Forbidden"
    status = 403


class PayloadTooLarge(ApiError):
    type = "PayloadTooLarge"
    status = 413


class InvalidPayload(ApiError):
    type = "InvalidPayload"
    status = 400


class Runtime(ApiError):
    """A bot or integration failed to perform what was asked of it."""

    type = "Runtime"
    status = 400


class UnsupportedMediaType(ApiError):
    type = "UnsupportedMediaType"
    status = 415


class MethodNotFound(ApiError):
    type = "MethodNotFound"
    status = 405


class ResourceNotFound(ApiError):
    type = "ResourceNotFound"
    status = 404


class InvalidJsonSchema(ApiError):
    type = "InvalidJsonSchema"
    status = 400


class InvalidDataFormat(ApiError):
    type = "InvalidDataFormat"
    status = 400


class InvalidIdentifier(ApiError):
    type = "InvalidIdentifier"
    status = 400


class RelationConflict(ApiError):
    type = "RelationConflict"
    status = 409


class ReferenceConstraint(ApiError):
    type = "ReferenceConstraint"
    status = 409


class ReferenceNotFound(ApiError):
    type = "ReferenceNotFound"
    status = 400


class InvalidQuery(ApiError):
    type = "InvalidQuery"
    status = 400


class AlreadyExists(ApiError):
    type = "AlreadyExists"
    status = 409


class LimitExceeded(ApiError):
    type = "LimitExceeded"
    status = 413


class OperationTimeout(ApiError):
    """The operation could not finish in time: the database is slow, unreachable or restarting.
    A 5xx status, so clients retry."""

    type = "OperationTimeout"
    status = 504
