"""Decode a JSON payload into a pydantic wire model, or raise PayloadError saying exactly what is wrong."""
from __future__ import annotations

import codecs
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from collectors.base import PayloadError

M = TypeVar("M", bound=BaseModel)
MAX_REPORTED_ERRORS = 3


def decode_text(body: bytes, what: str) -> str:
    """Body bytes -> text: UTF-8 (with or without BOM), else Shift_JIS (cp932), which some Japanese feeds use."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8):]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return body.decode("cp932")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"{what}: body is neither UTF-8 nor Shift_JIS (byte {exc.start})") from None


def parse_model(model: type[M], body: bytes, what: str) -> M:
    """Validate `body` as JSON against `model`; PayloadError names the first failing fields."""
    text = decode_text(body, what)
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise PayloadError(f"{what}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """The first few validation errors as 'path.to.field: message' joined by '; '."""
    parts = []
    for err in exc.errors(include_url=False)[:MAX_REPORTED_ERRORS]:
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - MAX_REPORTED_ERRORS
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
