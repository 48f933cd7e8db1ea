"""Publication dates as ``YYYY-MM-DD``, from whatever shape a source writes them in."""

from __future__ import annotations

import re
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Iterable

__all__ = ["parse_date", "first_date"]

_DATE_PREFIX = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")


def parse_date(value: object) -> str | None:
    """Normalise a publication date to ``YYYY-MM-DD``; None when it cannot be read.

    A bad date never fails an article: it is optional metadata. The date is taken as
    written (no time-zone conversion), which is the day the publisher meant.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    for parse in (_parse_iso, _parse_rfc2822, _parse_date_prefix):
        parsed = parse(value)
        if parsed is not None:
            return parsed.isoformat()
    return None


def _parse_iso(value: str) -> date | None:
    try:
        return datetime.fromisoformat(value).date()  # 3.11+: accepts "Z" and offsets
    except ValueError:
        return None


def _parse_rfc2822(value: str) -> date | None:
    try:
        return parsedate_to_datetime(value).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _parse_date_prefix(value: str) -> date | None:
    # e.g. "2024-11-05 10:00 UTC" or "2024/11/05", which fromisoformat rejects.
    match = _DATE_PREFIX.match(value)
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def first_date(candidates: Iterable[object]) -> str | None:
    for candidate in candidates:
        parsed = parse_date(candidate)
        if parsed:
            return parsed
    return None
