"""Every Redis key the store uses, in one place.

All keys carry the same hash tag (`{prefix}`), so they live in one Redis Cluster slot and every
multi-key transaction or script stays legal on Cluster as well as on standalone and Sentinel.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Key names for one store prefix."""

    prefix: str = "bosai"

    @property
    def tag(self) -> str:
        """The hash tag shared by every key."""
        return "{" + self.prefix + "}"

    # events
    @property
    def events(self) -> str:
        """Hash: event id -> current event JSON."""
        return f"{self.tag}:events"

    @property
    def meta(self) -> str:
        """Hash: event id -> compact index record (version, kind, level, state, status, areas, bbox)."""
        return f"{self.tag}:meta"

    def versions(self, event_id: str) -> str:
        """Hash: version number -> event JSON, every version of one event."""
        return f"{self.tag}:versions:{event_id}"

    def kind(self, kind: str) -> str:
        """Set of event ids of one kind."""
        return f"{self.tag}:kind:{kind}"

    def area(self, code: str) -> str:
        """Set of event ids touching one municipality."""
        return f"{self.tag}:area:{code}"

    def source(self, source_id: str) -> str:
        """Set of event ids last written by one source."""
        return f"{self.tag}:source:{source_id}"

    @property
    def geo(self) -> str:
        """GEO index of Point events."""
        return f"{self.tag}:geo"

    @property
    def shapes(self) -> str:
        """Set of events whose geometry a GEO point cannot stand for (lines, polygons, multi-parts)."""
        return f"{self.tag}:shapes"

    # observations
    def obs_times(self, station: str) -> str:
        """Sorted set: reading time in microseconds (member and score) for one station."""
        return f"{self.tag}:obs:{station}"

    def obs_values(self, station: str) -> str:
        """Hash: reading time in microseconds -> 'value|quality'."""
        return f"{self.tag}:obsv:{station}"

    # change feed
    @property
    def feed(self) -> str:
        """Stream of feed entries with ids '{seq}-0'."""
        return f"{self.tag}:feed"

    @property
    def feed_seq(self) -> str:
        """The last feed sequence number; every apply rewrites it, so WATCHing it serialises applies."""
        return f"{self.tag}:feed:seq"

    # outbox
    @property
    def outbox_messages(self) -> str:
        """Hash: message id -> immutable message JSON (its presence makes enqueue exactly-once)."""
        return f"{self.tag}:outbox:messages"

    @property
    def outbox_order(self) -> str:
        """Counter giving each message its insertion order."""
        return f"{self.tag}:outbox:order"

    @property
    def outbox_channels(self) -> str:
        """Set of channels that ever had a message."""
        return f"{self.tag}:outbox:channels"

    @property
    def outbox_state_prefix(self) -> str:
        """Prefix of the per-message state hashes (scripts append the message id)."""
        return f"{self.tag}:outbox:state:"

    def outbox_state(self, message_id: str) -> str:
        """Hash: state, attempts, token, lease_until, not_before, last_error, rank, channel."""
        return self.outbox_state_prefix + message_id

    def outbox_ready(self, channel: str) -> str:
        """Sorted set of claimable messages by rank (priority desc, then insertion order)."""
        return f"{self.tag}:outbox:ready:{channel}"

    def outbox_delayed(self, channel: str) -> str:
        """Sorted set of pending messages by not_before (microseconds)."""
        return f"{self.tag}:outbox:delayed:{channel}"

    def outbox_leased(self, channel: str) -> str:
        """Sorted set of leased messages by lease expiry (microseconds)."""
        return f"{self.tag}:outbox:leased:{channel}"

    # sources and audit
    @property
    def sources(self) -> str:
        """Hash: source id -> SourceStatus JSON."""
        return f"{self.tag}:sources"

    @property
    def audit(self) -> str:
        """Stream of audit entries with ids '{seq}-0'."""
        return f"{self.tag}:audit"

    @property
    def audit_seq(self) -> str:
        """The last audit sequence number."""
        return f"{self.tag}:audit:seq"
