"""Where the change feed stands: its newest sequence number, read through the store protocol only."""
from __future__ import annotations

from geo.store.base import FeedEntry, Store


async def feed_head(store: Store) -> FeedEntry | None:
    """The newest feed entry, found with O(log n) `feed_since` probes (works on every backend)."""
    if not await store.feed_since(0, limit=1):
        return None
    # feed_since(s) is empty exactly when s >= head: gallop to a bound, then bisect.
    low, high = 0, 1
    while await store.feed_since(high, limit=1):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        if await store.feed_since(mid, limit=1):
            low = mid
        else:
            high = mid
    (entry,) = await store.feed_since(low, limit=1)
    return entry
