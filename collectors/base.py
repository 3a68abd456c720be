"""What every collector shares: its config base, the snapshot it returns, the errors it raises, and
the template it is built on (`PolledCollector`).

A collector turns one upstream's wire format into Events and Observations. It knows nothing of the
store: the pipeline (service/pipeline.py) diffs its Snapshot against the store and applies changes.
The mapping from a payload to a Snapshot is a plain function of the payload (and the source's
config and area codes) in each collector module, so `bosai replay` and the benchmarks map recorded
payloads without HTTP; the collector class adds only fetching and what it remembers between polls.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from geo.model import Event, Observation

if TYPE_CHECKING:  # collectors.http imports this module for the errors and SourceConfig
    from collectors.http import Fetcher, FetchResult
    from geo.codes import AreaCodes


class SourceConfig(BaseModel):
    """Settings every source has; each collector module subclasses it with its own `type` tag."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="Collector kind; selects the collector module.")
    url: HttpUrl = Field(description="Upstream URL polled (feed, JSON list, snapshot).")
    enabled: bool = Field(default=True, description="Poll this source.")
    interval_s: float = Field(default=60, gt=0, description="Seconds between polls.")
    offset_s: float = Field(default=0, ge=0, lt=3600, description="Second offset of the poll within each interval.")
    jitter_s: float = Field(default=2, ge=0, description="Random delay added to each start, spreading load.")
    timeout_s: float = Field(default=10, gt=0, description="Total time allowed for one HTTP request.")
    max_bytes: int = Field(default=5_000_000, gt=0, description="Cap on the decoded body size of one response.")
    retries: int = Field(default=2, ge=0, le=10, description="Retries of a failed request within one poll.")
    expected_cadence_s: float = Field(
        default=600, gt=0, description="How often the upstream content normally changes; older content is stale."
    )
    allow_hosts: list[str] = Field(
        default_factory=list, description="Extra hosts this source may fetch from or be redirected to."
    )
    allow_private: bool = Field(
        default=False, description="Allow loopback/private addresses (the simulator and tests)."
    )


@dataclass(frozen=True, slots=True)
class Cancellation:
    """A message that cancels (取消) the previous report of an upstream event (JMA EventID).

    The events that report changed go back to what they were before it, or end as cancelled
    when nothing of them was in force before.
    """

    upstream_id: str
    sequence: int  # the cancelling message's own serial; it cancels the newest older one


@dataclass(frozen=True, slots=True)
class ScopeState:
    """A report that states everything in force over its scope (JMA: one office's warnings of one type,
    a prefecture's 土砂災害警戒情報, one river's flood forecast).

    Every event of the scope (`properties["scope"] == scope`) from an older report that this one does
    not keep in force (`in_force`) has ended, even if the report that ended it was never read.
    """

    scope: str
    issued_at: datetime
    upstream_id: str
    sequence: int
    in_force: frozenset[str]  # ids of the events the report keeps active
    report: str  # the report as a person names it, for the ended event's reason

    @property
    def order(self) -> tuple[datetime, int]:
        """Place among the reports of its scope: report time, then serial."""
        return self.issued_at, self.sequence


@dataclass(slots=True)
class Snapshot:
    """The result of one successful poll."""

    source_id: str
    events: list[Event] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    # True for sources that list everything in force (road closures): an active event of this
    # source absent from a *successful* complete snapshot has ended. JMA feeds are not complete.
    complete: bool = False
    content_time: datetime | None = None  # newest timestamp inside the content, for freshness
    not_modified: bool = False  # 304: nothing new, the source is still alive
    cancellations: list[Cancellation] = field(default_factory=list)
    # Reports that state the whole of their scope, in the order read (see ScopeState).
    scopes: list[ScopeState] = field(default_factory=list)
    # What was read is applied, but part of the content could not be read (a document that failed,
    # a camera that did not answer): the source is `failing` with this reason until it is read or given up.
    failing: str | None = None
    # What the poll adds to the source's status details (/api/v1/sources): counts, parts failing, gaps.
    status_details: dict[str, Any] = field(default_factory=dict)


class CollectorError(Exception):
    """A poll failed; nothing is changed in the store. `retryable` guides backoff."""

    retryable = True


class PayloadError(CollectorError):
    """The payload is malformed, hostile or of the wrong type. Retrying the same bytes will not help."""

    retryable = False


class Collector(Protocol):
    """One configured upstream."""

    source_id: str
    config: SourceConfig

    async def poll(self, now: datetime) -> Snapshot:
        """Fetch and parse once; raise CollectorError (or a subclass) on any failure."""


ConfigT = TypeVar("ConfigT", bound=SourceConfig)


class Recent:
    """The newest `limit` keys seen (URLs read, reports applied), oldest forgotten first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> None:
        """Add `key` as the newest, forgetting the oldest beyond the limit."""
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.limit:
            self._keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)


class PolledCollector(Generic[ConfigT]):
    """The template of a collector: what it is built with, and the validators of its conditional GETs.

    A subclass implements `poll`; its mapping of payloads to a Snapshot lives in module functions.
    """

    def __init__(self, source_id: str, config: ConfigT, fetcher: Fetcher, codes: AreaCodes) -> None:
        self.source_id = source_id
        self.config = config
        self.fetcher = fetcher
        self.codes = codes
        # memory name (the URL unless a collector reads one URL for two purposes) -> (ETag, Last-Modified)
        self._validators: dict[str, tuple[str | None, str | None]] = {}

    async def get_if_changed(
        self, url: str, *, content_types: Collection[str], memory: str | None = None, breaker_key: str | None = None
    ) -> FetchResult:
        """GET `url`, conditional on the validators kept under `memory` (default: the URL)."""
        etag, last_modified = self.validators(memory or url)
        return await self.fetcher.get(
            url, self.config, etag=etag, last_modified=last_modified, content_types=content_types,
            breaker_key=breaker_key,
        )

    def keep_validators(self, result: FetchResult, memory: str) -> None:
        """Remember a response's validators for the next conditional GET; a 304 keeps those known.

        Called once what the response carried has been read, so a payload that failed is fetched again.
        """
        if not result.not_modified:
            self._validators[memory] = (result.etag, result.last_modified)

    def validators(self, memory: str) -> tuple[str | None, str | None]:
        """The (ETag, Last-Modified) kept under `memory`; (None, None) before the first response."""
        return self._validators.get(memory, (None, None))
