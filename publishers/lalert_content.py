"""What an L-Alert document says about an event version: category, lifecycle, areas and body lines.

Lifecycle from the event's history, so a retried delivery writes the same bytes: one documentID per
*episode* of an event (from its first version, or the first after it ended, to the next end) and
documentRevision counting the versions since that start. The version that ends an episode is a
revision too: 解除 as an update saying so, 取消 as a Cancel. A version marked `correction` (訂正)
is a correction, never a new issue or opening.

Categories: evacuation -> EvacuationOrder, shelter -> Shelter, sediment_warning ->
SedimentDisastersWarning, flood_forecast -> floodcontrolwarning (v1.x published no separate body
for 指定河川洪水予報; the v2 specification decides), weather_warning and notice -> GeneralInformation.
Gauges, cameras and road closures are not sent to L-Alert.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from geo.codes import AreaCodes, lgcode6
from geo.model import Event, Kind, State, Status
from geo.wording import level_words
from publishers import lalert_document as ld

CATEGORY = {
    Kind.EVACUATION: "EvacuationOrder",
    Kind.SHELTER: "Shelter",
    Kind.SEDIMENT_WARNING: "SedimentDisastersWarning",
    Kind.FLOOD_FORECAST: "floodcontrolwarning",
    Kind.WEATHER_WARNING: "GeneralInformation",
    Kind.NOTICE: "GeneralInformation",
}
SHELTER_SORT = {"open": ("開設", "空き"), "crowded": ("開設", "混雑"), "closed": ("閉鎖", "不明"), "unknown": ("不明", "不明")}
NAMESPACE = uuid.UUID("6f1d2c6e-5b7a-4d38-9a51-0c1f3e2b8d47")  # documentIDs of bosai-hub, stable across runs


def sendable(event: Event) -> bool:
    """Whether an event's kind has an L-Alert document."""
    return event.kind in CATEGORY


def episode_start(history: Sequence[Event], current: Event) -> int:
    """The version that began the episode `current` belongs to (1, or the first after an end)."""
    start = 1
    for before, after in zip(history, history[1:]):
        if after.version > current.version:
            break
        if before.ended and not after.ended:
            start = after.version
    return start


def lifecycle(history: Sequence[Event], current: Event, sender: str) -> tuple[str, int, str]:
    """(documentID, documentRevision, operation) of `current`'s document."""
    start = episode_start(history, current)
    document_id = str(uuid.uuid5(NAMESPACE, f"{sender}:{current.id}:{start}"))
    revision = current.version - start + 1
    if current.state is State.CANCELLED:
        operation = "cancel"
    elif current.properties.get("correction"):
        operation = "correction"
    else:
        operation = "new" if revision == 1 else "update"
    return document_id, revision, operation


def _offices(event: Event, codes: AreaCodes, office_name: str) -> tuple[ld.Office, str, str]:
    pref = codes.prefecture_name
    pref_code = lgcode6(codes.prefecture_jis[:2] + "000")  # 都道府県の団体コード (170003)
    if len(event.areas) == 1 and event.areas[0] in codes:
        muni = codes.municipality(event.areas[0])
        area_name, area_code = f"{pref}{muni.name}", muni.lgcode
        if event.kind in (Kind.EVACUATION, Kind.SHELTER):  # the municipality's own decision
            return ld.Office(f"{muni.name}（{office_name}代理入力）", area_name, muni.lgcode), area_name, area_code
    else:
        area_name, area_code = pref, pref_code
    return ld.Office(office_name, pref, pref_code), area_name, area_code


def _town_place(codes: AreaCodes, code: str) -> ld.Place:
    muni = codes.municipality(code)
    return ld.Place(f"{codes.prefecture_name}{muni.name}", muni.lgcode)


def _orders(event: Event, codes: AreaCodes) -> tuple[ld.Order, ...]:
    code = event.areas[0] if event.areas else ""
    jis6 = codes.municipality(code).lgcode if code in codes else ""
    out = []
    for order in event.properties.get("orders", []):
        at = datetime.fromisoformat(order["at"]) if order.get("at") else event.issued_at
        name = level_words(int(order["level"]), Kind.EVACUATION, "ja").name  # today's terms
        places = tuple((ld.Place(d, jis6), at) for d in order.get("districts") or [codes.municipality(code).name])
        out.append(ld.Order(name, order.get("action", "発令"), places))
    return tuple(out)


def _shelter(event: Event, codes: AreaCodes) -> ld.ShelterEntry:
    p = event.properties
    sort, crowding = SHELTER_SORT.get(str(p.get("status", "unknown")), SHELTER_SORT["unknown"])
    jis6 = codes.municipality(event.areas[0]).lgcode if event.areas and event.areas[0] in codes else ""
    lon = lat = None
    if event.geometry and event.geometry.get("type") == "Point":
        lon, lat = event.geometry["coordinates"][:2]
    changed = p.get("changed_at")
    return ld.ShelterEntry(
        place=ld.Place(p.get("name") or event.title, jis6, address=p.get("address") or "", lat=lat, lon=lon),
        sort=sort, status=crowding, at=datetime.fromisoformat(changed) if changed else event.issued_at,
        capacity=p.get("capacity"), head_count=p.get("head_count"), checked_at=event.received_at,
    )


def _items(event: Event, codes: AreaCodes) -> tuple[tuple[str, str, tuple[ld.Place, ...]], ...]:
    words = level_words(event.level, event.kind, "ja")
    status = "解除" if event.state is State.LIFTED or event.level == 0 else "発表"
    places = tuple(_town_place(codes, c) for c in event.areas if c in codes)
    return ((words.name or event.title, status, places),)


def headline(event: Event) -> str:
    """The document's headline: the level in its speaker's words, then the event's own text."""
    words = level_words(event.level, event.kind, "ja")
    if event.state is State.CANCELLED:
        return f"{event.title}は取り消されました。"
    said = f"{words.label} {words.name}：{words.action}。" if event.level and words.name else ""
    return (said + (event.text or event.title))[:500]


def document_for(event: Event, history: Sequence[Event], codes: AreaCodes, *, sender: str = "bosai-hub",
                 office_name: str = "危機対策課", sent: datetime | None = None) -> ld.Document:
    """The L-Alert document of one event version (see the module docstring for the lifecycle)."""
    if not sendable(event):
        raise ValueError(f"{event.kind} events have no L-Alert document")
    document_id, revision, operation = lifecycle(history, event, sender)
    office, area_name, area_code = _offices(event, codes, office_name)
    first = next((h.received_at for h in history if h.version == event.version - revision + 1), None)
    category = CATEGORY[event.kind]
    title = ("【訂正】" if operation == "correction" else "") + (event.title or category)
    return ld.Document(
        category=category, document_id=document_id, revision=revision, operation=operation,
        status={Status.ACTUAL: "actual", Status.EXERCISE: "exercise", Status.TEST: "test"}[event.status],
        office=office, area_name=area_name, area_jis6=area_code, title=title, headline=headline(event),
        sent=sent or event.received_at, report_time=event.issued_at or event.received_at, first_created=first,
        valid_until=event.expires_at, disaster=str(event.properties.get("disaster") or ""),
        urgency=event.urgency.value, severity=event.severity.value, certainty=event.certainty.value,
        sender_id=sender,
        orders=_orders(event, codes) if event.kind is Kind.EVACUATION else (),
        shelters=(_shelter(event, codes),) if event.kind is Kind.SHELTER else (),
        items=_items(event, codes) if category not in ("EvacuationOrder", "Shelter") else (),
    )
