"""Date-times as Japanese feeds write them; a time without an offset is Japan time (JST)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

JST = timezone(timedelta(hours=9))

_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?")
_EXIF = re.compile(r"(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})")


def parse_jst(value: Any) -> Any:
    """ISO 8601, 'YYYY/MM/DD HH:MM[:SS]', 'YYYYMMDDHHMM[SS]' or EXIF 'YYYY:MM:DD HH:MM:SS' -> aware datetime.

    Anything that is not a string is returned unchanged, for pydantic to judge.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    match = _COMPACT.fullmatch(text) or _EXIF.fullmatch(text)
    try:
        if match:
            y, mo, d, h, mi, s = match.groups()
            return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), tzinfo=JST)
        parsed = datetime.fromisoformat(text.replace("/", "-").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"time {value!r} is not a recognised date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=JST)


JstTime = Annotated[AwareDatetime, BeforeValidator(parse_jst)]


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date header (Last-Modified) -> aware datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else None
