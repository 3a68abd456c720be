"""Reports that state the whole of their scope: what a newer one does not keep in force has ended.

A JMA weather report lists every municipality of its office with what is in force there, a
土砂災害警戒情報 every municipality of its prefecture, a flood forecast its forecast area: each report
is the whole state of its scope (`collectors.base.ScopeState`). So the newest report read ends every
event of the scope that an older report put in force and it does not keep, even when the 解除 report
in between was never read (a restart, an outage longer than the feeds, a document that failed).

Only a report that was read and parsed ends anything, and only events older than it; a report older
than one already applied to its scope (a document read late, after a newer one) is superseded as a
whole and dropped. The newest order applied per scope is remembered, and after a restart read back
from the events the store holds (each carries its scope and its report's time and serial).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import structlog

from collectors.base import ScopeState
from geo.model import Certainty, Event, Severity, State, Urgency
from geo.store.base import Change, ChangeOp, Store

log = structlog.get_logger(__name__)

Order = tuple[datetime, int]
_NEVER: Order = (datetime.min.replace(tzinfo=timezone.utc), -1)


def scope_of(event: Event) -> str | None:
    """The scope an event belongs to (None: its source does not state a whole scope)."""
    scope = event.properties.get("scope")
    return scope if isinstance(scope, str) else None


def order_of(event: Event) -> Order:
    """An event's place among the reports of its scope: its report's time, then serial."""
    sequence = event.source.sequence
    return (event.issued_at or _NEVER[0], -1 if sequence is None else sequence)


def newest(statements: Iterable[ScopeState]) -> dict[str, ScopeState]:
    """The newest statement of each scope."""
    found: dict[str, ScopeState] = {}
    for statement in statements:
        held = found.get(statement.scope)
        if held is None or statement.order > held.order:
            found[statement.scope] = statement
    return found


class WholeState:
    """The newest report applied per scope, and the ending of what a newer report does not keep."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._marks: dict[tuple[str, str], Order] = {}

    async def _load(self, source_id: str, scopes: set[str]) -> None:
        """Read the marks of `scopes` not yet known from the events the store holds (after a restart)."""
        missing = {s for s in scopes if (source_id, s) not in self._marks}
        if not missing:
            return
        for event in await self.store.events_by_source(source_id, include_ended=True):
            scope = scope_of(event)
            if scope in missing:
                key = (source_id, scope)
                self._marks[key] = max(self._marks.get(key, _NEVER), order_of(event))
        for scope in missing:
            self._marks.setdefault((source_id, scope), _NEVER)

    async def drop_late(
        self, source_id: str, statements: Sequence[ScopeState], events: Sequence[Event]
    ) -> tuple[dict[str, ScopeState], list[Event]]:
        """The newest statement per scope newer than what was applied, and the events not superseded.

        An event of a scope whose report is older than the newest applied to that scope is dropped:
        that newer report already says everything in force there.
        """
        scopes = {s.scope for s in statements} | {s for e in events if (s := scope_of(e)) is not None}
        if not scopes:
            return {}, list(events)
        await self._load(source_id, scopes)
        marks = self._marks
        kept = []
        for event in events:
            scope = scope_of(event)
            if scope is not None and order_of(event) < marks[(source_id, scope)]:
                log.info("report_superseded", source=source_id, event_id=event.id, scope=scope,
                         issued_at=event.issued_at and event.issued_at.isoformat())
                continue
            kept.append(event)
        current = {
            scope: statement
            for scope, statement in newest(statements).items()
            if statement.order >= marks[(source_id, scope)]
        }
        return current, kept

    def applied(self, source_id: str, statements: Iterable[ScopeState], changes: Iterable[Change]) -> None:
        """Remember the newest order applied per scope, once a batch is committed."""
        marks = self._marks
        for statement in statements:
            key = (source_id, statement.scope)
            marks[key] = max(marks.get(key, _NEVER), statement.order)
        for change in changes:
            scope = scope_of(change.event)
            if scope is not None:
                key = (source_id, scope)
                marks[key] = max(marks.get(key, _NEVER), order_of(change.event))

    def forget(self) -> None:
        """Drop the remembered marks (a write of unknown outcome): they are read back from the store."""
        self._marks.clear()

    async def ended(
        self, source_id: str, statements: dict[str, ScopeState], running: dict[str, Event], now: datetime
    ) -> list[tuple[Change, Event]]:
        """The events each statement's scope holds active from an older report and does not keep in force,
        ended, each with the version it ends. `running` holds the versions this batch has written so far
        (they win over the store's)."""
        if not statements:
            return []
        candidates = {e.id: e for e in await self.store.events_by_source(source_id)}
        candidates.update(running)
        changes = []
        for event in candidates.values():
            statement = statements.get(scope_of(event) or "")
            if (
                statement is None
                or event.state is not State.ACTIVE
                or event.id in statement.in_force
                or order_of(event) >= statement.order
            ):
                continue
            source = event.source.model_copy(
                update={"upstream_id": statement.upstream_id, "sequence": statement.sequence}
            )
            props = event.properties | {"ended_reason": f"not in force in {statement.report}"}
            ended = event.model_copy(update={
                "version": event.version + 1, "supersedes": event.version_ref, "received_at": now,
                "state": State.LIFTED, "level": 0, "severity": Severity.MINOR, "urgency": Urgency.PAST,
                "certainty": Certainty.OBSERVED, "issued_at": statement.issued_at, "source": source,
                "properties": props,
            })
            changes.append((Change(ChangeOp.LIFTED, ended), event))
        return changes
