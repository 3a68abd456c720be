"""One source's poll cycle: collector -> pipeline -> source health. Never raises into the scheduler."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

import structlog

from collectors.base import Collector, CollectorError
from geo.model import utcnow
from geo.store.base import SourceStatus, Store
from service import metrics
from service.freshness import judge_failure, judge_success
from service.pipeline import Pipeline

log = structlog.get_logger(__name__)


class SourcePoller:
    """Polls one collector and records the source's health after every attempt."""

    def __init__(
        self,
        collector: Collector,
        pipeline: Pipeline,
        store: Store,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.collector = collector
        self.pipeline = pipeline
        self.store = store
        self.clock = clock
        self.source_id = collector.source_id
        self._lock = asyncio.Lock()

    async def run_once(self) -> SourceStatus:
        """Poll, ingest, record health. A second call while one runs waits for it (max one at a time)."""
        async with self._lock:
            structlog.contextvars.bind_contextvars(source=self.source_id)
            try:
                return await self._run()
            finally:
                structlog.contextvars.unbind_contextvars("source")

    async def _run(self) -> SourceStatus:
        now = self.clock()
        previous = await self.store.source_status(self.source_id)
        started = time.perf_counter()
        try:
            snapshot = await self.collector.poll(now)
            entries = [] if snapshot.not_modified else await self.pipeline.ingest(snapshot)
        except CollectorError as exc:
            status = judge_failure(previous, self.source_id, now, exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one collector must not stop the scheduler
            log.exception("poll_crashed")
            status = judge_failure(previous, self.source_id, now, exc)
        else:
            latency_ms = round((time.perf_counter() - started) * 1000, 1)
            status = judge_success(
                previous,
                now,
                snapshot,
                expected_cadence_s=self.collector.config.expected_cadence_s,
                latency_ms=latency_ms,
            )
            for entry in entries:
                metrics.CHANGES.labels(self.source_id, entry.op.value).inc()
            log.debug("poll_ok", changes=len(entries), latency_ms=latency_ms)
        await self.store.set_source_status(status)
        metrics.POLLS.labels(self.source_id, status.state.value).inc()
        return status
