"""Judge a source's health from one poll: ok, failing, or stale (HTTP 200 but old content).

A failed poll never looks like "no warnings": the source turns `failing`, as does a successful
poll that could not read part of its content (`Snapshot.failing`, e.g. a report that failed). A
successful poll whose newest content timestamp is older than `expected_cadence_s * stale_factor`
turns `stale`.
Transitions are logged once (first failure at ERROR, recovery at INFO, staleness at WARNING,
everything else at DEBUG), as structlog events with `source=` bound.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import structlog

from collectors.base import CollectorError, Snapshot
from geo.store.base import SourceState, SourceStatus

DEFAULT_STALE_FACTOR = 3.0

log = structlog.get_logger("service.freshness")


def content_age_s(content_time: datetime | None, now: datetime) -> float | None:
    """Seconds between the newest content timestamp and now (None when unknown)."""
    if content_time is None:
        return None
    return max(0.0, (now - content_time).total_seconds())


def judge_success(
    previous: SourceStatus | None,
    now: datetime,
    snapshot: Snapshot,
    *,
    expected_cadence_s: float,
    latency_ms: float | None = None,
    stale_factor: float = DEFAULT_STALE_FACTOR,
) -> SourceStatus:
    """The status after a successful poll (a 304 keeps the previous content time and item count)."""
    prev = previous or SourceStatus(source_id=snapshot.source_id)
    if snapshot.not_modified:
        content_time, items = prev.content_time, prev.items
    else:
        content_time = snapshot.content_time or prev.content_time
        items = len(snapshot.events)
    age = content_age_s(content_time, now)
    limit_s = expected_cadence_s * stale_factor
    state = SourceState.STALE if age is not None and age > limit_s else SourceState.OK
    details = {**prev.details, **snapshot.status_details, "content_age_s": age, "stale_after_s": limit_s}
    status = replace(
        prev,
        state=state,
        last_attempt=now,
        last_success=now,
        consecutive_failures=0,
        latency_ms=latency_ms,
        items=items,
        content_time=content_time,
        details=details,
    )
    if snapshot.failing is not None:
        # what was read is applied, but part of the content is not: failing, naming what is missing
        status = replace(status, state=SourceState.FAILING, last_error=snapshot.failing, last_error_at=now,
                         consecutive_failures=prev.consecutive_failures + 1)
    _log_transition(prev, status)
    return status


def judge_failure(
    previous: SourceStatus | None, source_id: str, now: datetime, error: BaseException
) -> SourceStatus:
    """The status after a failed poll: failing, last good content and item count kept."""
    prev = previous or SourceStatus(source_id=source_id)
    message = f"{error.__class__.__name__}: {error}"
    retryable = error.retryable if isinstance(error, CollectorError) else False
    status = replace(
        prev,
        state=SourceState.FAILING,
        last_attempt=now,
        last_error=message,
        last_error_at=now,
        consecutive_failures=prev.consecutive_failures + 1,
        latency_ms=None,
        details={**prev.details, "retryable": retryable},
    )
    _log_transition(prev, status)
    return status


def _log_transition(prev: SourceStatus, new: SourceStatus) -> None:
    with structlog.contextvars.bound_contextvars(source=new.source_id):
        if new.state == SourceState.FAILING:
            if prev.state != SourceState.FAILING:
                log.error("source_failing", error=new.last_error, previous_state=str(prev.state))
            else:
                log.debug("source_poll_failed", error=new.last_error, consecutive_failures=new.consecutive_failures)
        elif new.state == SourceState.STALE:
            if prev.state != SourceState.STALE:
                log.warning(
                    "source_stale",
                    content_time=_iso(new.content_time),
                    content_age_s=new.details.get("content_age_s"),
                    stale_after_s=new.details.get("stale_after_s"),
                )
            else:
                log.debug("source_polled", state="stale", content_age_s=new.details.get("content_age_s"))
        elif prev.state in (SourceState.FAILING, SourceState.STALE):
            log.info(
                "source_recovered",
                previous_state=str(prev.state),
                failures=prev.consecutive_failures,
                down_since=_iso(prev.last_success),
            )
        else:
            log.debug("source_polled", state="ok", items=new.items, latency_ms=new.latency_ms)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
