"""JSON Schema validation of payloads, with each schema compiled once."""

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from parley.errors import InvalidJsonSchema, InvalidPayload

Validator = Callable[[Any], Any]


def compile_schema(schema: dict[str, Any], *, where: str) -> Validator:
    """A validator for `schema`; raises InvalidJsonSchema naming `where` when it is not a schema."""
    try:
        validator: Validator = fastjsonschema.compile(schema)
    except (fastjsonschema.JsonSchemaDefinitionException, TypeError, ValueError) as error:
        raise InvalidJsonSchema(f"The schema of {where} is not a valid JSON Schema: {error}") from None
    return validator


def validate(validator: Validator, value: Any, *, what: str) -> None:
    try:
        validator(value)
    except fastjsonschema.JsonSchemaValueException as error:
        raise InvalidPayload(f"The {what} does not match its schema: {error.message}.") from None


def default_message_schemas() -> dict[str, Any]:
    """The JSON Schemas of the SDK's default message types, by type (a fresh copy each call)."""
    schemas: dict[str, Any] = json.loads(resources.files("parley.service").joinpath("message_types.json").read_text())
    return schemas


@cache
def default_message_types() -> dict[str, Validator]:
    """Validators of the SDK's default message types, for conversations no integration owns."""
    return {
        name: compile_schema(schema, where=f"message type {name}") for name, schema in default_message_schemas().items()
    }
