"""Shelters as first-class data: one site per place, hazard flags, status, hazard-aware nearest.

Merging: GSI and the open-data standard publish 指定緊急避難場所 (where to flee from a hazard) and
指定避難所 (where to stay) as two lists; a school is often both. Two rows are one site when either
row's 住所同一 flag says so and their normalised addresses are equal; among several candidates the
same GSI 共通ID stem (first 11 characters: 'E' + 団体コード + site number), then the same name,
then the nearer point wins. A merged site keeps every 共通ID; its primary id is the 指定避難所's
(the designation that is opened and staffed, so the one a status is recorded for).

Status comes from `shelter` events (id `shelter:{共通ID}`, `properties.status`); without one a
shelter is "unknown", never presumed open.
"""
from __future__ import annotations

import enum
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.hazards import HAZARD_LABELS_JA, Hazard
from geo.metric import LocalMetric
from geo.model import Event, Kind
from geo.shelter_sources import SiteRecord, normalise_address

_HAZARDS = tuple(Hazard)
_STATUS_VALUES = frozenset({"open", "crowded", "closed", "unknown"})
# Local-projection distance / geodesic distance stays within 1 % across a prefecture (geo/metric.py;
# tests/test_geo_shelters.py measures it on Ishikawa): 5 % leaves room to spare.
PLANAR_SLACK = 1.05


class ShelterStatus(enum.StrEnum):
    """Operational status recorded from the operator console."""

    OPEN = "open"
    CROWDED = "crowded"
    CLOSED = "closed"
    UNKNOWN = "unknown"


# Recommendation order: open shelters first; crowded ones still take people; unknown last.
STATUS_TIERS = (ShelterStatus.OPEN, ShelterStatus.CROWDED, ShelterStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Shelter:
    """One designated site (指定緊急避難場所 and/or 指定避難所)."""

    id: str
    ids: tuple[str, ...]
    name: str
    address: str
    lon: float
    lat: float
    hazards: frozenset[Hazard]
    emergency: bool  # 指定緊急避難場所
    evacuation: bool  # 指定避難所
    capacity: int | None = None
    municipality: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (hazards as slugs and Japanese labels)."""
        hazards = [h for h in _HAZARDS if h in self.hazards]
        return {
            "id": self.id,
            "ids": list(self.ids),
            "name": self.name,
            "address": self.address,
            "lon": self.lon,
            "lat": self.lat,
            "municipality": self.municipality,
            "emergency_place": self.emergency,
            "evacuation_shelter": self.evacuation,
            "hazards": [h.value for h in hazards],
            "hazards_ja": [HAZARD_LABELS_JA[h] for h in hazards],
            "capacity": self.capacity,
        }


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One recommended site: how far (geodesic metres) and its recorded status."""

    shelter: Shelter
    distance_m: float
    status: ShelterStatus


def merge_sites(records: Iterable[SiteRecord]) -> tuple[list[Shelter], list[str]]:
    """Merge emergency-place and evacuation-shelter rows into sites; (sites, duplicate ids skipped)."""
    seen: set[str] = set()
    duplicates: list[str] = []
    emergency: list[SiteRecord] = []
    evacuation: list[SiteRecord] = []
    for record in records:
        if record.id in seen:
            duplicates.append(record.id)
            continue
        seen.add(record.id)
        (emergency if record.emergency else evacuation).append(record)
    by_address: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(emergency):
        if record.address:
            by_address[normalise_address(record.address)].append(i)
    # All candidate pairs, best first, assigned greedily: each row joins at most one other, so
    # two buildings of one school sharing one emergency place do not both claim it.
    pairs = sorted(
        (_match_rank(v, emergency[i]), vi, i)
        for vi, v in enumerate(evacuation)
        if v.address
        for i in by_address.get(normalise_address(v.address), ())
        if v.same_address or emergency[i].same_address
    )
    partner: dict[int, int] = {}
    used: set[int] = set()
    for _, vi, i in pairs:
        if vi not in partner and i not in used:
            partner[vi] = i
            used.add(i)
    sites = [_site(v, emergency[partner[vi]] if vi in partner else None) for vi, v in enumerate(evacuation)]
    sites += [_site(None, e) for i, e in enumerate(emergency) if i not in used]
    return sites, duplicates


def _match_rank(v: SiteRecord, e: SiteRecord) -> tuple[bool, bool, float]:
    same_stem = len(v.id) >= 11 and v.id[:11] == e.id[:11]
    same_name = normalise_address(v.name) == normalise_address(e.name)
    return (not same_stem, not same_name, (v.lon - e.lon) ** 2 + (v.lat - e.lat) ** 2)


def _site(v: SiteRecord | None, e: SiteRecord | None) -> Shelter:
    main = v or e
    assert main is not None
    return Shelter(
        id=main.id,
        ids=tuple(r.id for r in (v, e) if r is not None),
        name=main.name,
        address=main.address,
        lon=main.lon,
        lat=main.lat,
        hazards=e.hazards if e else frozenset(),
        emergency=e is not None,
        evacuation=v is not None,
        capacity=(v.capacity if v else None) or (e.capacity if e else None),
        municipality=None,
    )


def _inland_as_flood(items: Sequence[Shelter], flags: np.ndarray) -> np.ndarray:
    """Mask of sites whose 洪水 designation stands for 内水氾濫: municipalities that never use that column."""
    inland, flood = _HAZARDS.index(Hazard.INLAND_FLOOD), _HAZARDS.index(Hazard.FLOOD)
    uses_inland = {s.municipality for s, row in zip(items, flags) if row[inland]}
    return np.array(
        [bool(row[flood]) and s.municipality not in uses_inland for s, row in zip(items, flags)], dtype=bool
    ).reshape(len(items))


def statuses_from(events: Iterable[Event]) -> dict[str, ShelterStatus]:
    """Shelter id -> status from current `shelter` events; ended or unreadable ones say nothing."""
    found: dict[str, ShelterStatus] = {}
    for event in events:
        if event.kind != Kind.SHELTER or event.ended:
            continue
        raw = str(event.properties.get("status", "")).lower()
        if raw in _STATUS_VALUES:
            found[event.id.split(":", 1)[1]] = ShelterStatus(raw)
    return found


class Shelters:
    """All sites of a region with arrays for vectorised, hazard-aware nearest searches."""

    def __init__(self, shelters: Sequence[Shelter], metric: LocalMetric) -> None:
        self.items: tuple[Shelter, ...] = tuple(shelters)
        self.metric = metric
        self.lon = np.array([s.lon for s in self.items], dtype=np.float64)
        self.lat = np.array([s.lat for s in self.items], dtype=np.float64)
        self.x, self.y = metric.to_xy(self.lon, self.lat)
        self.flags = np.array([[h in s.hazards for h in _HAZARDS] for s in self.items], dtype=bool)
        self.flags = self.flags.reshape(len(self.items), len(_HAZARDS))
        self.inland_as_flood = _inland_as_flood(self.items, self.flags)
        # What suitability reads: the designations, with 洪水 standing for 内水氾濫 where the site's
        # municipality designates no site at all for 内水氾濫 (金沢市 and 小松市 assess rain
        # inundation under 洪水 and leave the 内水氾濫 column empty; reading it literally would
        # send their residents to the next town).
        self.suits = self.flags.copy()
        self.suits[:, _HAZARDS.index(Hazard.INLAND_FLOOD)] |= self.inland_as_flood
        self._by_id = {i: n for n, s in enumerate(self.items) for i in s.ids}
        self._trees: dict[bytes, tuple[shapely.STRtree, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def get(self, shelter_id: str) -> Shelter | None:
        """The site that has `shelter_id` among its 共通IDs."""
        n = self._by_id.get(shelter_id)
        return None if n is None else self.items[n]

    def suitable(self, hazards: Iterable[Hazard]) -> np.ndarray:
        """Mask of sites designated for every hazard given (every site when none is given).

        Never loosened to "any of them": a site not designated for a hazard in force may be the
        very place that hazard strikes, so an empty mask is an answer (see geo/shelter_advice.py).
        """
        cols = [_HAZARDS.index(h) for h in set(hazards)]
        if not cols:
            return np.ones(len(self.items), dtype=bool)
        return self.suits[:, cols].all(axis=1)

    def inside(self, polygons: Sequence[BaseGeometry]) -> np.ndarray:
        """Mask of sites inside (or on the edge of) any of the polygons."""
        mask = np.zeros(len(self.items), dtype=bool)
        for polygon in polygons:
            mask |= shapely.intersects_xy(polygon, self.lon, self.lat)
        return mask

    def nearest(self, lon: np.ndarray, lat: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised: for each point, index of the nearest site in `mask` and its distance (m).

        Distances are in the region's local projection; -1 / inf when the mask is empty.
        """
        tree, members = self._tree(mask)
        n = len(np.atleast_1d(lon))
        if members.size == 0:
            return np.full(n, -1), np.full(n, np.inf)
        x, y = self.metric.to_xy(lon, lat)
        (point_idx, site_idx), dist = tree.query_nearest(
            shapely.points(x, y), all_matches=False, return_distance=True
        )
        index = np.full(n, -1)
        distance = np.full(n, np.inf)
        index[point_idx] = members[site_idx]
        distance[point_idx] = dist
        return index, distance

    def _tree(self, mask: np.ndarray) -> tuple[shapely.STRtree, np.ndarray]:
        key = np.packbits(mask).tobytes()
        if key not in self._trees:
            members = np.flatnonzero(mask)
            self._trees[key] = (shapely.STRtree(shapely.points(self.x[members], self.y[members])), members)
        return self._trees[key]

    def nearest_k(self, lon: float, lat: float, mask: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest sites in `mask` to one point as (index, geodesic metres), nearest first."""
        members = np.flatnonzero(mask)
        if members.size == 0 or k <= 0:
            return []
        if members.size > k:
            # Geodesic distances only for the sites that can be among the k nearest: the local
            # projection is within PLANAR_SLACK of them, so none beyond the k-th planar distance
            # widened by it can be (a geodesic per site was most of a "near me" answer's cost).
            x, y = self.metric.to_xy(np.array([lon]), np.array([lat]))
            planar = np.hypot(self.x[members] - x[0], self.y[members] - y[0])
            kth = np.partition(planar, k - 1)[k - 1]
            members = members[planar <= kth * PLANAR_SLACK + 1.0]
        dist = self.metric.geodesic_m(lon, lat, self.lon[members], self.lat[members])
        order = np.argsort(dist, kind="stable")[:k]
        return [(int(members[i]), float(dist[i])) for i in order]

    def recommend(
        self,
        lon: float,
        lat: float,
        hazards: Iterable[Hazard] = (),
        avoid: Sequence[BaseGeometry] = (),
        statuses: Mapping[str, ShelterStatus] | None = None,
        k: int = 3,
        limit_m: float = math.inf,
    ) -> list[Recommendation]:
        """Nearest suitable sites within `limit_m`: open first, then crowded, then unknown; never closed.

        A site inside an `avoid` polygon (a configured hazard zone of a hazard in force) is never
        recommended; an empty list means no suitable site within the limit.
        """
        pool = self.suitable(hazards)
        if avoid:
            pool = pool & ~self.inside(avoid)
        status = self._status_array(statuses or {})
        picked: list[Recommendation] = []
        for tier in STATUS_TIERS:
            if len(picked) >= k:
                break
            for index, metres in self.nearest_k(lon, lat, pool & (status == tier), k - len(picked)):
                if metres <= limit_m:
                    picked.append(Recommendation(self.items[index], metres, tier))
        return picked

    def nearest_suitable_m(
        self,
        lon: float,
        lat: float,
        hazards: Iterable[Hazard] = (),
        avoid: Sequence[BaseGeometry] = (),
        statuses: Mapping[str, ShelterStatus] | None = None,
    ) -> float | None:
        """Distance (m) to the nearest suitable, not closed site outside the zones, however far; None if none."""
        pool = self.suitable(hazards) & (self._status_array(statuses or {}) != ShelterStatus.CLOSED.value)
        if avoid:
            pool = pool & ~self.inside(avoid)
        found = self.nearest_k(lon, lat, pool, 1)
        return found[0][1] if found else None

    def _status_array(self, statuses: Mapping[str, ShelterStatus]) -> np.ndarray:
        status = np.full(len(self.items), ShelterStatus.UNKNOWN.value, dtype=object)
        for shelter_id, value in statuses.items():
            n = self._by_id.get(shelter_id)
            # A site with several ids: any recorded status beats "unknown".
            if n is not None and (status[n] == ShelterStatus.UNKNOWN.value or value != ShelterStatus.UNKNOWN):
                status[n] = ShelterStatus(value).value
        return status
