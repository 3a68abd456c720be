"""The pipeline coordinator: diff a collector's snapshot against the store, apply atomically.

Snapshot in, changes out. Nothing here ever removes data because a fetch failed: a failed poll
never reaches `ingest`. An event ends only when its message says so (解除 / 取消), when it expires
by the clock, when a newer report that states the whole of its scope no longer keeps it in force
(`Snapshot.scopes`, service/whole_state.py), or — for sources that list everything in force
(`Snapshot.complete`) — when a successful snapshot no longer lists it.

Every report of a snapshot counts: several versions of one event (serials N and N+1 read in one
catch-up poll) are applied in order, each a version of its own, so a later 取消 of N+1 restores N.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import structlog

from collectors.base import Snapshot
from geo import geometry
from geo.codes import AreaCodes
from geo.geometry import InvalidGeometry
from geo.model import Event, State, utcnow
from geo.store.base import Batch, Change, ChangeOp, FeedEntry, OutboxMessage, Store, VersionConflict
from service import metrics
from service.current_events import CurrentEvents
from service.whole_state import WholeState, order_of, scope_of

log = structlog.get_logger(__name__)

OP_BY_STATE = {
    State.ACTIVE: ChangeOp.UPDATED,
    State.LIFTED: ChangeOp.LIFTED,
    State.CANCELLED: ChangeOp.CANCELLED,
    State.EXPIRED: ChangeOp.EXPIRED,
}

# Rules turn a change into outgoing messages (publishers/); the pipeline stores them with the change.
Rules = Callable[[Change, Event | None], Iterable[OutboxMessage]]
# Enrichment fills in areas from geometry and geometry from areas (geo/); it may raise ValueError.
Enricher = Callable[[Event], Event]


class Rejected(ValueError):
    """An event that cannot be stored; the reason is counted and logged, the rest of the batch applies."""

    def __init__(self, event_id: str, reason: str, kind: str = "geometry") -> None:
        super().__init__(f"{event_id}: {reason}")
        self.event_id = event_id
        self.reason = reason
        self.kind = kind  # bounded set, for counting: geometry | area | enrichment


def check_geometry(event: Event, topology: bool = True) -> None:
    """Raise Rejected unless the geometry is well-formed WGS84 and (with `topology`) valid (shapely)."""
    if event.geometry is None:
        return
    try:
        geometry.check_geometry(event.geometry, topology)
    except InvalidGeometry as exc:
        raise Rejected(event.id, str(exc)) from None


def _is_older(a: Event, b: Event) -> bool:
    """True when `a` is an older report of the same upstream event than `b`.

    By report time first: JMA restarts the Serial of an EventID (a prefecture's 土砂災害警戒情報)
    with every new storm, so serial 1 of today is newer than serial 10 of last month.
    """
    if (
        a.source.upstream_id is None
        or a.source.upstream_id != b.source.upstream_id
        or a.source.sequence is None
        or b.source.sequence is None
    ):
        return False
    if a.issued_at is not None and b.issued_at is not None and a.issued_at != b.issued_at:
        return a.issued_at < b.issued_at
    return a.source.sequence < b.source.sequence


def in_order(events: Iterable[Event]) -> dict[str, list[Event]]:
    """Every version of each id in the order to apply them: by report time and serial where known
    (reports read late are sorted in), else as the snapshot lists them."""
    chains: dict[str, list[Event]] = {}
    for event in events:
        chains.setdefault(event.id, []).append(event)
    for chain in chains.values():
        if len(chain) > 1 and all(e.source.sequence is not None for e in chain):
            chain.sort(key=order_of)
    return chains


def carry_first_issued(event: Event, current: Event | None) -> Event:
    """`event` with `properties.first_issued_at`: when the warning it continues was first issued.

    Only for reports that state a whole scope (JMA); a warning that was ended starts anew.
    """
    if event.issued_at is None or scope_of(event) is None:
        return event
    first = None
    if current is not None and not current.ended:
        first = current.properties.get("first_issued_at") or (current.issued_at and current.issued_at.isoformat())
    first = first or event.issued_at.isoformat()
    if event.properties.get("first_issued_at") == first:
        return event
    return event.model_copy(update={"properties": {**event.properties, "first_issued_at": first}})


class Pipeline:
    """Turns snapshots into atomic store batches; one instance per service process."""

    def __init__(
        self,
        store: Store,
        codes: AreaCodes,
        *,
        rules: Rules | None = None,
        enrich: Enricher | None = None,
        clock: Callable[[], datetime] = utcnow,
        all_areas: bool = False,
        current: CurrentEvents | None = None,
    ) -> None:
        self.store = store
        self.codes = codes
        self.rules = rules
        self.enrich = enrich
        self.clock = clock
        self.all_areas = all_areas
        self.rejected: Counter[str] = Counter()
        # The current versions to diff against: the process's read model, which follows the feed
        # (every writer's commits) and takes this pipeline's own at once, so the diff of a
        # 1,000-gauge poll reads nothing back.
        self.current = current if current is not None else CurrentEvents(store)
        # material() of the versions last diffed or written, valid while the model holds that very object
        self._materials: dict[str, tuple[Event, dict[str, Any]]] = {}
        self.whole_state = WholeState(store)
        # One apply at a time per process: diffs read the store, so two concurrent diffs of the
        # same event would race; across processes the store's version check catches it.
        self._lock = asyncio.Lock()

    def _prepare(self, event: Event) -> Event:
        if not self.all_areas:
            unknown = [a for a in event.areas if a not in self.codes]
            if unknown:
                raise Rejected(event.id, f"unknown area code(s) {', '.join(unknown)}", "area")
        check_geometry(event, topology=self.enrich is None)  # the enricher repairs what it can
        if self.enrich is not None:
            try:
                event = self.enrich(event)
            except ValueError as exc:
                raise Rejected(event.id, str(exc), "enrichment") from None
        return event

    def _accept(self, events: Sequence[Event], source_id: str) -> list[Event]:
        accepted = []
        for event in events:
            try:
                accepted.append(self._prepare(event))
            except Rejected as exc:
                self.rejected[exc.kind] += 1
                metrics.REJECTED.labels(source_id, exc.kind).inc()
                log.warning("event_rejected", source=source_id, event_id=exc.event_id, reason=exc.reason)
        return accepted

    @staticmethod
    def diff(
        incoming: Event,
        stored: Event | None,
        now: datetime | None = None,
        materials: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ) -> Change | None:
        """The change that takes `stored` to `incoming`, or None when nothing material differs.

        `materials` may carry both events' `material()` when the caller has them already.
        """
        stamp = {} if now is None else {"received_at": now}
        if stored is None:
            if incoming.ended:
                return None  # an end of something never seen active: nothing to end
            return Change(ChangeOp.CREATED, incoming.model_copy(update={"version": 1, "supersedes": None, **stamp}))
        if _is_older(incoming, stored):
            return None  # a late older serial never overwrites a newer one
        if stored.ended and incoming.ended:
            return None
        new_material, old_material = materials or (incoming.material(), stored.material())
        if new_material == old_material:
            return None
        op = ChangeOp.CREATED if stored.ended else OP_BY_STATE[incoming.state]
        update = {"version": stored.version + 1, "supersedes": stored.version_ref, **stamp}
        return Change(op, incoming.model_copy(update=update))

    @staticmethod
    def _numbering(after: Event, now: datetime) -> dict[str, Any]:
        """The version fields of the version that follows `after`, received now."""
        return {"version": after.version + 1, "supersedes": after.version_ref, "received_at": now}

    @classmethod
    def _next_version(cls, event: Event, now: datetime, **update: Any) -> Event:
        """`event` as its next version, received now, with `update` applied."""
        return event.model_copy(update=cls._numbering(event, now) | update)

    def _ended_by_absence(self, stored: Event, now: datetime) -> Change:
        props = stored.properties | {"ended_reason": "no longer listed by the source"}
        return Change(ChangeOp.LIFTED, self._next_version(stored, now, state=State.LIFTED, level=0, properties=props))

    async def _cancellations(self, snapshot: Snapshot, explicit: set[str], now: datetime) -> list[Change]:
        """Undo the report each 取消 cancels: its events go back to their state before it, or end.

        A cancellation names the upstream event and its own serial; the cancelled report is the
        newest older serial that last changed any of our events. Events the same snapshot states
        explicitly are left to the normal diff.
        """
        if not snapshot.cancellations:
            return []
        current = await self.store.events_by_source(snapshot.source_id, include_ended=True)
        changes: list[Change] = []
        for cancel in snapshot.cancellations:
            mine = [
                e
                for e in current
                if e.source.upstream_id == cancel.upstream_id
                and e.source.sequence is not None
                and e.source.sequence < cancel.sequence
            ]
            if not mine:
                continue
            # the newest report by time and serial: serials restart with each storm of an EventID
            cancelled = max(order_of(e) for e in mine)
            cancelled_seq = cancelled[1]
            for event in mine:
                if order_of(event) != cancelled or event.id in explicit:
                    continue
                history = await self.store.history(event.id)
                before = next((h for h in reversed(history[:-1]) if h.source.sequence != cancelled_seq), None)
                source = event.source.model_copy(update={"sequence": cancel.sequence})
                if before is not None and before.state == State.ACTIVE:
                    # the earlier content, numbered as the next version of the current one
                    props = before.properties | {"restored_by_cancellation": cancel.sequence}
                    restored = before.model_copy(
                        update=self._numbering(event, now) | {"source": source, "properties": props}
                    )
                    changes.append(Change(ChangeOp.UPDATED, restored))
                elif event.state == State.ACTIVE:
                    ended = self._next_version(event, now, source=source, state=State.CANCELLED, level=0)
                    changes.append(Change(ChangeOp.CANCELLED, ended))
        return changes

    def _outbox(self, changes: Sequence[Change], previous: dict[str, Event]) -> list[OutboxMessage]:
        """The rules' messages for each change, given the version before it (`previous` holds the
        versions before the batch; a second change of one id in the batch follows the first)."""
        if self.rules is None:
            return []
        before = dict(previous)
        messages = []
        for change in changes:
            messages.extend(self.rules(change, before.get(change.event.id)))
            before[change.event.id] = change.event
        return messages

    async def ingest(self, snapshot: Snapshot) -> list[FeedEntry]:
        """Diff a successful snapshot against the store and apply the changes in one transaction."""
        accepted = self._accept(snapshot.events, snapshot.source_id)
        for attempt in range(3):
            async with self._lock:
                now = self.clock()
                statements, current_events = await self.whole_state.drop_late(
                    snapshot.source_id, snapshot.scopes, accepted
                )
                chains = in_order(current_events)
                seen = set(chains)
                stored = await self._current_versions(seen)
                changes = await self._cancellations(snapshot, seen, now)
                if changes:  # the rules see the version each 取消 replaces, never the change itself
                    stored.update(await self.store.get_many([c.event.id for c in changes]))
                reverted = {c.event.id for c in changes}
                written: dict[str, Event] = {c.event.id: c.event for c in changes}
                diffed: dict[str, tuple[Event, dict[str, Any]]] = {}  # versions whose material() is known
                for event_id, chain in chains.items():
                    current = written.get(event_id) or stored.get(event_id)
                    for event in chain:
                        event = carry_first_issued(event, current)
                        material = event.material()
                        pair = None
                        if current is not None and event_id not in reverted and current is stored.get(event_id):
                            known = self._materials.get(event_id)
                            if known is None or known[0] is not current:
                                known = self._materials[event_id] = (current, current.material())
                            pair = (material, known[1])
                        change = self.diff(event, current, now, pair)
                        if change is not None:
                            changes.append(change)
                            current = written[event_id] = change.event
                            diffed[event_id] = (change.event, material)
                for change, before in await self.whole_state.ended(snapshot.source_id, statements, written, now):
                    stored.setdefault(change.event.id, before)
                    changes.append(change)
                if snapshot.complete:
                    for old in await self.store.events_by_source(snapshot.source_id):
                        if old.id not in seen:
                            stored[old.id] = old
                            changes.append(self._ended_by_absence(old, now))
                if not changes and not snapshot.observations:
                    self.whole_state.applied(snapshot.source_id, statements.values(), ())
                    return []
                batch = Batch(changes, snapshot.observations, self._outbox(changes, stored))
                try:
                    entries = await self.store.apply(batch)
                except VersionConflict:
                    # Another writer won: the next attempt's refresh reads its commit from the feed.
                    log.info("version_conflict_retry", source=snapshot.source_id, attempt=attempt)
                    self.whole_state.forget()
                    continue
                except BaseException:
                    self.whole_state.forget()  # unknown whether it was written: the feed will tell
                    raise
                self.whole_state.applied(snapshot.source_id, statements.values(), changes)
                await self.current.committed(entries, [c.event for c in changes])
                for event_id, known in diffed.items():
                    if self.current.get(event_id) is known[0]:
                        self._materials[event_id] = known
            if changes:
                ops = Counter(c.op.value for c in changes)
                log.info("changes_applied", source=snapshot.source_id, **ops)
            for change in changes:
                log.debug(
                    "event_changed",
                    source=snapshot.source_id,
                    event_id=change.event.id,
                    op=change.op.value,
                    version=change.event.version,
                    level=change.event.level,
                )
            return entries
        raise VersionConflict(f"{snapshot.source_id}: gave up after repeated version conflicts")

    async def _current_versions(self, ids: set[str]) -> dict[str, Event]:
        """Current versions of `ids` from the read model, once it includes every commit so far."""
        await self.current.refresh()
        return self.current.get_many(ids)

    async def expire(self) -> list[FeedEntry]:
        """End every active event whose `expires_at` has passed."""
        async with self._lock:
            now = self.clock()
            due = [
                e
                for e in await self.store.query(include_exercise=True)
                if e.expires_at is not None and e.expires_at <= now
            ]
            if not due:
                return []
            changes = [
                Change(ChangeOp.EXPIRED, self._next_version(e, now, state=State.EXPIRED, level=0)) for e in due
            ]
            entries = await self.store.apply(Batch(changes, (), self._outbox(changes, {e.id: e for e in due})))
            await self.current.committed(entries, [c.event for c in changes])
        for change in changes:
            log.info("event_expired", event_id=change.event.id, version=change.event.version)
        return entries
