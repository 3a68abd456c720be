"""Source health from poll results: ok, failing, stale on old content, and one log line per transition."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import structlog
from structlog.testing import capture_logs

from collectors.base import PayloadError, Snapshot
from collectors.http import FetchTimeout
from geo.store.base import SourceState
from service.freshness import judge_failure, judge_success

NOW = datetime(2026, 8, 23, 0, 0, tzinfo=timezone.utc)


def snap(content_age_s: float | None, not_modified: bool = False) -> Snapshot:
    content_time = None if content_age_s is None else NOW - timedelta(seconds=content_age_s)
    return Snapshot(source_id="gauges", content_time=content_time, not_modified=not_modified)


def test_fresh_content_is_ok_and_old_content_is_stale_even_on_http_200():
    ok = judge_success(None, NOW, snap(300), expected_cadence_s=600, latency_ms=12.5)
    assert ok.state == SourceState.OK and ok.latency_ms == 12.5 and ok.details["content_age_s"] == 300
    stale = judge_success(ok, NOW, snap(600 * 3 + 1), expected_cadence_s=600)
    assert stale.state == SourceState.STALE and stale.last_success == NOW


def test_failure_counts_and_keeps_last_good_content():
    ok = judge_success(None, NOW, snap(60), expected_cadence_s=600)
    first = judge_failure(ok, "gauges", NOW + timedelta(minutes=1), FetchTimeout("no response"))
    second = judge_failure(first, "gauges", NOW + timedelta(minutes=2), PayloadError("obss.0.code: missing"))
    assert second.state == SourceState.FAILING and second.consecutive_failures == 2
    assert second.last_error == "PayloadError: obss.0.code: missing"
    assert second.content_time == ok.content_time and second.last_success == NOW
    assert second.details["retryable"] is False


def test_not_modified_keeps_previous_content_time_and_turns_stale_as_time_passes():
    ok = judge_success(None, NOW, snap(0), expected_cadence_s=600)
    later = NOW + timedelta(hours=1)
    unchanged = judge_success(ok, later, snap(None, not_modified=True), expected_cadence_s=600)
    assert unchanged.content_time == ok.content_time and unchanged.state == SourceState.STALE


def test_transitions_are_logged_once_at_the_right_level():
    with capture_logs() as logs:
        ok = judge_success(None, NOW, snap(10), expected_cadence_s=600)
        f1 = judge_failure(ok, "gauges", NOW, FetchTimeout("t"))
        f2 = judge_failure(f1, "gauges", NOW, FetchTimeout("t"))
        judge_success(f2, NOW, snap(10), expected_cadence_s=600)
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("source_polled", "debug"),
        ("source_failing", "error"),
        ("source_poll_failed", "debug"),
        ("source_recovered", "info"),
    ]
    assert logs[3]["failures"] == 2


def test_source_is_bound_in_contextvars_while_logging():
    seen: list[dict] = []

    def keep(_logger, _name, event_dict):
        seen.append(dict(event_dict))
        raise structlog.DropEvent

    structlog.configure(processors=[structlog.contextvars.merge_contextvars, keep])
    try:
        judge_failure(None, "road_mlit", NOW, FetchTimeout("t"))
    finally:
        structlog.reset_defaults()
    assert seen[0]["source"] == "road_mlit" and seen[0]["event"] == "source_failing"
