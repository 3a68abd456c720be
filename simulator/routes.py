"""Upstream endpoints, at the same paths as the real services (only the base URL differs)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from simulator import cameras, gauges, jma_feed, publiccommons
from simulator import jma_xml as jx
from simulator.keys import NOW, SIM

routes = web.RouteTableDef()


def _now(request: web.Request) -> datetime:
    """Scenario time whose content this request gets (frozen under a `stale` fault)."""
    return request[NOW]


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _json(data, last_modified: datetime | None = None) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    resp = web.Response(body=body, content_type="application/json", charset="utf-8")
    if last_modified is not None:
        resp.headers["Last-Modified"] = _http_date(last_modified)
    return resp


def _http_date(t: datetime) -> str:
    return format_datetime(t.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def _not_found(what: str) -> web.Response:
    return web.Response(status=404, text=f"404 Not Found: {what}\n")


def _not_modified_since(request: web.Request, modified: datetime) -> bool:
    header = request.headers.get("If-Modified-Since")
    if not header:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    return since is not None and since.tzinfo is not None and modified.replace(microsecond=0) <= since


# -- JMA ------------------------------------------------------------------------------------------
@routes.get("/developer/xml/feed/{feed:extra|regular|extra_l|regular_l}.xml")
async def jma_feed_xml(request: web.Request) -> web.Response:
    """Atom feed of the last 10 minutes (long feeds: days, rebuilt hourly), honouring If-Modified-Since.

    Like JMA's, the short feed is rebuilt every minute: its `updated` and Last-Modified are the
    current minute, so a client polling more often than that gets 304s, and a frozen feed shows
    its age.
    """
    sim, now, feed = request.app[SIM], _now(request), request.match_info["feed"]
    modified = jma_feed.long_feed_time(now) if feed.endswith("_l") else now.replace(second=0, microsecond=0)
    if _not_modified_since(request, modified):
        return web.Response(status=304, headers={"Last-Modified": _http_date(modified)})
    body = jma_feed.render(feed, sim.jma.entries(feed, now), modified, _base(request))
    resp = web.Response(body=body, content_type="application/xml", charset="utf-8")
    resp.headers["Last-Modified"] = _http_date(modified)
    return resp


@routes.get("/developer/xml/data/{name}")
async def jma_document(request: web.Request) -> web.Response:
    """A published JMA XML document (404 until its publication time)."""
    sim, name = request.app[SIM], request.match_info["name"]
    msg = sim.jma.document(name, _now(request))
    if msg is None:
        return _not_found(name)
    resp = web.Response(body=msg.xml, content_type="application/xml", charset="utf-8")
    resp.headers["Last-Modified"] = _http_date(msg.at)
    return resp


# -- 公共情報コモンズ (municipal orders and shelters) ---------------------------------------------
@routes.get(publiccommons.FEED_PATH)
async def commons_feed(request: web.Request) -> web.Response:
    """Atom feed of the municipalities' documents of the last day, honouring If-Modified-Since."""
    sim, now = request.app[SIM], _now(request)
    body, modified = sim.commons.feed(now, _base(request))
    if _not_modified_since(request, modified):
        return web.Response(status=304, headers={"Last-Modified": _http_date(modified)})
    resp = web.Response(body=body, content_type="application/atom+xml", charset="utf-8")
    resp.headers["Last-Modified"] = _http_date(modified)
    return resp


@routes.get(publiccommons.DATA_PATH + "{name}")
async def commons_document(request: web.Request) -> web.Response:
    """A published document revision (404 until its publication time)."""
    msg = request.app[SIM].commons.document(request.match_info["name"], _now(request))
    if msg is None:
        return _not_found(request.match_info["name"])
    resp = web.Response(body=msg.xml, content_type="application/xml", charset="utf-8")
    resp.headers["Last-Modified"] = _http_date(msg.at)
    return resp


# -- river gauges ---------------------------------------------------------------------------------
@routes.get("/swin/files/area_info/current/{pref}.json")
async def crisis_area(request: web.Request) -> web.Response:
    """Crisis gauges above their start level, for the prefecture."""
    sim, now = request.app[SIM], _now(request)
    if request.match_info["pref"] != "17000":
        return _not_found("prefecture")
    return _json(gauges.area_info(sim.hydro, sim.hydro.crisis, now, sim.seed), gauges.floor10(now))


@routes.get("/kawabou/file/system/rwCrntTime.json")
async def current_time(request: web.Request) -> web.Response:
    """The newest data time of river.go.jp."""
    return _json(gauges.current_time(_now(request)))


def _slot(request: web.Request) -> datetime | None:
    """The JST time of a tmlist path's {date}/{hhmm}, or None if malformed or not yet published."""
    try:
        t = datetime.strptime(request.match_info["date"] + request.match_info["hhmm"], "%Y%m%d%H%M")
    except ValueError:
        return None
    t = t.replace(tzinfo=jx.JST)
    return t if t <= gauges.floor10(_now(request)) and t.minute % 10 == 0 else None


@routes.get("/kawabou/file/files/tmlist/swstg/{date}/{hhmm}/{code}.json")
async def crisis_tmlist(request: web.Request) -> web.Response:
    """A crisis gauge's reports as of a 10-minute slot."""
    sim, slot = request.app[SIM], _slot(request)
    station = sim.stations.get(request.match_info["code"])
    if slot is None or station is None:
        return _not_found("slot or station")
    return _json(gauges.crisis_tmlist(sim.hydro, station, slot, sim.seed), slot)


@routes.get("/kawabou/file/files/tmlist/stg/{date}/{hhmm}/{code}.json")
async def standard_tmlist(request: web.Request) -> web.Response:
    """A standard gauge's last three hours as of a 10-minute slot."""
    sim, slot, code = request.app[SIM], _slot(request), request.match_info["code"]
    if slot is None or code not in gauges.standard_codes():
        return _not_found("slot or station")
    return _json(gauges.standard_tmlist(sim.hydro, code, slot, sim.seed), slot)


# -- cameras --------------------------------------------------------------------------------------
@routes.get("/kawabou/file/files/master/obs/scam/{id}.json")
async def camera_master(request: web.Request) -> web.Response:
    """A river camera's master record."""
    sim, cam = request.app[SIM], cameras.BY_ID.get(request.match_info["id"])
    if cam is None:
        return _not_found("camera")
    return _json(cameras.master(cam, _base(request), sim.camera_station[cam.id]))


def _frame(request: web.Request) -> tuple[cameras.Camera, datetime] | None:
    sim, cam = request.app[SIM], cameras.BY_ID.get(request.match_info["id"])
    if cam is None or cam.id == sim.scenario.cameras.missing:
        return None
    return cam, cameras.frame_time(cam, _now(request), sim.scenario.cameras.frozen, sim.camera_freeze_at)


@routes.get("/cam/now/cctv_{id}.jpg")
async def camera_image(request: web.Request) -> web.Response:
    """The current snapshot; Last-Modified is its capture time."""
    sim, frame = request.app[SIM], _frame(request)
    if frame is None:
        return _not_found("image")
    cam, taken = frame
    station = sim.camera_station[cam.id]
    if _not_modified_since(request, taken):
        return web.Response(status=304, headers={"Last-Modified": _http_date(taken)})
    # A stuck camera serves one old picture (its own EXIF time included) under ever newer capture times.
    shown = cameras.picture_time(cam, taken, sim.scenario.cameras.stuck, sim.camera_stuck_at)
    rain = sim.hydro.rain_at(station.region, shown)
    body = cameras.render(cam, shown, rain, cameras.stage_fraction(sim.hydro, station, shown), sim.seed)
    resp = web.Response(body=body, content_type="image/jpeg")
    resp.headers["Last-Modified"] = _http_date(taken)
    return resp


@routes.get("/cam/now/cctv_{id}.json")
async def camera_image_time(request: web.Request) -> web.Response:
    """Capture time of the current snapshot (currDateProvUrl)."""
    frame = _frame(request)
    if frame is None:
        return _not_found("image")
    return _json({"create_time": frame[1].strftime("%Y/%m/%d %H:%M:%S")}, frame[1])


@routes.get("/cam/normal/cctv_{id}.jpg")
async def camera_normal(request: web.Request) -> web.Response:
    """The 平常時 reference image."""
    sim, cam = request.app[SIM], cameras.BY_ID.get(request.match_info["id"])
    if cam is None:
        return _not_found("camera")
    return web.Response(body=cameras.render(cam, None, 0.0, 0.25, sim.seed), content_type="image/jpeg")


# -- roads ----------------------------------------------------------------------------------------
@routes.get("/roadinfo/backup/latest.json")
async def road_latest(request: web.Request) -> web.Response:
    """Where the newest 5-minute data set lives (the site's pages find it the same way)."""
    return _json({"dir": request.app[SIM].roads.backup_dir(_now(request))})


def _backup_time(request: web.Request) -> datetime | None:
    try:
        t = datetime.strptime(request.match_info["stamp"], "%Y%m%d%H%M%S").replace(tzinfo=jx.JST)
    except ValueError:
        return None
    return t if t <= _now(request) else None


@routes.get("/roadinfo/backup/{stamp}/{token}/TukoKisei/{mesh}.json")
async def road_mesh(request: web.Request) -> web.Response:
    """Restrictions in one primary mesh, as of the data set's time."""
    at = _backup_time(request)
    if at is None:
        return _not_found("data set")
    return _json(request.app[SIM].roads.tuko_kisei(request.match_info["mesh"], at), at)


@routes.get("/roadinfo/backup/{stamp}/{token}/TukoKiseiDetail/{id}.json")
async def road_detail(request: web.Request) -> web.Response:
    """A restriction's route, section and reason in words."""
    at = _backup_time(request)
    detail = request.app[SIM].roads.detail(request.match_info["id"], at) if at else None
    return _json(detail, at) if detail else _not_found("restriction")


@routes.get("/wzdx/v4.2/road-events.geojson")
async def wzdx_feed(request: web.Request) -> web.Response:
    """Road works in force as a WZDx 4.2 WorkZoneFeed."""
    now = _now(request)
    resp = _json(request.app[SIM].roads.wzdx(now))
    resp.content_type = "application/geo+json"
    return resp


@routes.get("/wzdx/v4.2/road-restrictions.geojson")
async def wzdx_restriction_feed(request: web.Request) -> web.Response:
    """Weather restrictions in force (事前通行規制, chain rules) as a WZDx 4.2 RoadRestrictionFeed."""
    now = _now(request)
    resp = _json(request.app[SIM].roads.wzdx_restrictions(now))
    resp.content_type = "application/geo+json"
    return resp
