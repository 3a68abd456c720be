"""Camera collector over local HTTP: real master record shape, real images made with Pillow, hostile images;
and against the simulator's camera endpoints with its fault modes: frozen, stale, failing and missing cameras."""
from __future__ import annotations

import io
import json
import random
import struct
import zlib
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from collectors.base import CollectorError, PayloadError
from collectors.camera_images import DecompressionBomb, NotAnImage, decode, sniff
from collectors.http import Fetcher
from collectors.river_camera import Config, RiverCameraCollector
from geo.codes import AreaCodes
from geo.store.base import SourceState
from service.keys import PIPELINE_KEY, STORE_KEY
from service.poller import SourcePoller
from service.web.keys import SNAPSHOT_KEY
from simulator.cameras import CAMERAS
from simulator.server import running_simulator
from tests.service_client import service_client
from tests.upstreams import SHARED

MASTER = json.loads((SHARED / "river_cameras/livecam-jp_kawabou_scam_221320015.json").read_bytes())
CAM = "221320015"
NOW = datetime(2026, 8, 23, 0, 0, tzinfo=timezone.utc)
STATE = web.AppKey("state", dict)


def jpeg(seed: int, size=(320, 240), exif_time: str | None = None) -> bytes:
    """A noisy picture whose perceptual hash depends on the seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", (16, 12))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(16 * 12)])
    image = image.resize(size, Image.NEAREST)
    out = io.BytesIO()
    if exif_time:
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = exif_time
        image.save(out, "JPEG", exif=exif)
    else:
        image.save(out, "JPEG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (a decompression bomb's calling card)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture
async def server():
    app = web.Application()
    app[STATE] = {"image": jpeg(1), "etag": None, "type": "image/jpeg", "capture": None, "last_modified": None}

    async def master(request: web.Request) -> web.Response:
        doc = json.loads(json.dumps(MASTER))
        info = doc["obsInfo"]
        info["twnCd"] = 1701201  # move the camera to Kanazawa, as a number like the upstream sends
        info["currentUrl"] = str(request.url.with_path("/cam/now/cctv.jpg").with_query(None))
        if request.app[STATE]["capture"]:
            info["currDateProvUrl"] = str(request.url.with_path("/cam/now/date.json").with_query(None))
        return web.json_response(doc)

    async def image(request: web.Request) -> web.Response:
        s = request.app[STATE]
        headers = {}
        if s["etag"]:
            headers["ETag"] = s["etag"]
            if request.headers.get("If-None-Match") == s["etag"]:
                return web.Response(status=304, headers=headers)
        if s["last_modified"]:
            headers["Last-Modified"] = s["last_modified"]
        return web.Response(body=s["image"], content_type=s["type"], headers=headers)

    async def capture(request: web.Request) -> web.Response:
        return web.json_response({"create_time": request.app[STATE]["capture"]})

    app.router.add_get(f"/master/obs/scam/{CAM}.json", master)
    app.router.add_get("/cam/now/cctv.jpg", image)
    app.router.add_get("/cam/now/date.json", capture)
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def fetcher():
    async with aiohttp.ClientSession() as session:
        yield Fetcher(session)


def collector(server, fetcher, tmp_path, **kw) -> RiverCameraCollector:
    cfg = Config(allow_private=True, url=str(server.make_url("/master/obs/scam/")), cameras=[CAM], image_dir=tmp_path,
                 retries=0, **kw)
    return RiverCameraCollector("cams", cfg, fetcher, AreaCodes.load())


async def test_snapshot_is_stored_and_described(server, fetcher, tmp_path):
    server.app[STATE]["last_modified"] = "Sat, 22 Aug 2026 23:58:00 GMT"
    snap = await collector(server, fetcher, tmp_path).poll(NOW)
    (event,) = snap.events
    assert event.id == f"camera:{CAM}" and event.kind == "camera" and event.areas == ("17201",)
    assert event.geometry == {"type": "Point", "coordinates": (139.766708333, 35.536708333)}
    props = event.properties
    latest = tmp_path / CAM / "latest.jpg"
    assert latest.read_bytes() == server.app[STATE]["image"]
    assert str(tmp_path) not in json.dumps(event.to_feature(), default=str)  # no server file path published
    assert props["image_state"] == "ok" and props["unavailable"] is False
    assert props["river"] == "多摩川" and props["gauge"] == "2132000400008"
    with Image.open(tmp_path / CAM / "thumb.jpg") as thumb:
        assert thumb.format == "JPEG" and thumb.width <= 160 and thumb.height <= 120
    assert props["taken_at"] == "2026-08-22T23:58:00+00:00" and props["stale"] is False
    assert props["frozen"] is False and snap.content_time == datetime(2026, 8, 22, 23, 58, tzinfo=timezone.utc)


async def test_keeps_latest_and_previous_n_frames(server, fetcher, tmp_path):
    cams = collector(server, fetcher, tmp_path, keep_frames=2)
    for i in range(5):
        server.app[STATE]["image"] = jpeg(100 + i)
        await cams.poll(NOW + timedelta(minutes=i))
    frames = sorted((tmp_path / CAM / "frames").iterdir())
    assert len(frames) == 3 and frames[-1].read_bytes() == jpeg(104) and frames[0].read_bytes() == jpeg(102)
    assert not [p for p in (tmp_path / CAM).rglob(".*")]  # no temporary files left behind


async def test_frozen_after_k_polls_of_the_same_picture_then_recovers(server, fetcher, tmp_path):
    cams = collector(server, fetcher, tmp_path, frozen_polls=3)
    flags = []
    for i in range(3):
        snap = await cams.poll(NOW + timedelta(minutes=i))
        flags.append(snap.events[0].properties["frozen"])
    assert flags == [False, False, True]
    server.app[STATE]["image"] = jpeg(2)
    snap = await cams.poll(NOW + timedelta(minutes=3))
    assert snap.events[0].properties["frozen"] is False


async def test_304_counts_as_an_unchanged_picture(server, fetcher, tmp_path):
    server.app[STATE]["etag"] = '"img1"'
    cams = collector(server, fetcher, tmp_path, frozen_polls=2)
    first = await cams.poll(NOW)
    second = await cams.poll(NOW + timedelta(minutes=1))
    assert first.events[0].properties["frozen"] is False
    assert second.events[0].properties["frozen"] is True
    assert second.events[0].properties["image_etag"] == '"img1"'


async def test_stale_from_the_cameras_own_capture_time(server, fetcher, tmp_path):
    server.app[STATE]["capture"] = "2026/08/23 07:00:00"  # JST, i.e. 22:00 UTC the day before
    snap = await collector(server, fetcher, tmp_path, stale_after_s=1800).poll(NOW)
    props = snap.events[0].properties
    assert props["taken_at"] == "2026-08-23T07:00:00+09:00" and props["stale"] is True


async def test_capture_time_from_exif_when_the_camera_has_no_timestamp_json(server, fetcher, tmp_path):
    server.app[STATE]["image"] = jpeg(5, exif_time="2026:08:23 08:55:00")
    snap = await collector(server, fetcher, tmp_path).poll(NOW)
    props = snap.events[0].properties
    assert props["taken_at"] == "2026-08-23T08:55:00+09:00" and props["stale"] is False


@pytest.mark.parametrize(
    ("body", "content_type", "error", "reason"),
    [
        (b"<html>camera offline</html>", "image/jpeg", NotAnImage, "not a JPEG or PNG"),
        (b"GIF89a" + b"\0" * 100, "application/octet-stream", NotAnImage, "not a JPEG or PNG"),
        (jpeg(3)[:5000], "image/jpeg", NotAnImage, "corrupt jpeg: image file is truncated"),
        (jpeg(3)[:300], "image/jpeg", NotAnImage, "unreadable jpeg"),
        (png_claiming(30000, 30000), "image/png", DecompressionBomb, "pixel limit"),
        (png_claiming(10000, 10000), "image/png", DecompressionBomb, "pixel limit"),  # Pillow's warning band
        (jpeg(4, size=(4000, 3000)), "image/jpeg", DecompressionBomb, "4000x3000"),
    ],
)
async def test_hostile_images_are_rejected_and_nothing_is_written(server, fetcher, tmp_path, body, content_type,
                                                                  error, reason):
    server.app[STATE].update(image=body, type=content_type)
    cams = collector(server, fetcher, tmp_path, max_pixels=1_000_000_000 if "pixel" in reason else 10_000_000)
    with pytest.raises(error, match=reason):
        await cams.poll(NOW)
    assert not (tmp_path / CAM).exists()


async def test_wrong_content_type_is_refused_before_reading(server, fetcher, tmp_path):
    server.app[STATE]["type"] = "text/html"
    with pytest.raises(PayloadError, match="text/html"):
        await collector(server, fetcher, tmp_path).poll(NOW)


def test_png_is_accepted_and_hashed():
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, "PNG")
    frame = decode(out.getvalue(), 1_000_000)
    assert frame.format == "png" and (frame.width, frame.height) == (64, 48) and sniff(out.getvalue()) == "png"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_collector_errors(data):
    for body in (data, b"\xff\xd8\xff" + data, b"\x89PNG\r\n\x1a\n" + data):
        try:
            decode(body, 10_000_000)
        except CollectorError:
            pass


# -- against the simulator's camera endpoints (simulator/cameras.py) and its fault modes ------------
SIM_SOURCE = "river_cameras"


@pytest.fixture
async def sim():
    async with running_simulator("heavy-rain", speed=60, seed=1, port=0) as s:
        s.clock.pause()
        yield s


def sim_cameras(sim, fetcher, image_dir, cameras=None, **kw) -> RiverCameraCollector:
    cfg = Config(url=f"{sim.base_url}/kawabou/file/files/master/obs/scam/", cameras=cameras or [c.id for c in CAMERAS],
                 image_dir=image_dir, retries=0, timeout_s=2, allow_private=True, **kw)
    return RiverCameraCollector(SIM_SOURCE, cfg, fetcher, AreaCodes.load())


async def poll_at(sim, cams: RiverCameraCollector, hours: float) -> dict[str, dict]:
    """Poll at a scenario hour; each camera's properties by id."""
    sim.clock.jump_elapsed(hours)
    snap = await cams.poll(sim.clock.now())
    return {e.id.removeprefix("camera:"): e.properties for e in snap.events}


async def test_live_cameras_polled_faster_than_they_capture_are_never_frozen(sim, fetcher, tmp_path):
    plan = sim.scenario.cameras
    live = [c.id for c in CAMERAS if c.id not in (plan.frozen, plan.missing, plan.stuck)]
    cams = sim_cameras(sim, fetcher, tmp_path, live)
    taken = set()
    for step in range(30):  # every 4 scenario minutes for two hours: each capture read two or three times
        props = await poll_at(sim, cams, 2 + step * 4 / 60)
        assert {p["image_state"] for p in props.values()} == {"ok"}, (step, props)
        taken.add(props[live[0]]["taken_at"])
    assert len(taken) >= 12  # the capture time advanced all along (a calm scene: only the stamped time changed)


async def test_stuck_picture_under_advancing_capture_times_is_frozen(sim, fetcher, tmp_path):
    plan = sim.scenario.cameras
    cams = sim_cameras(sim, fetcher, tmp_path, [plan.stuck])
    flags = []
    for step in range(10):  # one poll per capture from half an hour before the picture sticks
        props = (await poll_at(sim, cams, plan.stuck_from_h - 0.5 + step / 6))[plan.stuck]
        flags.append(props["frozen"])
        assert props["stale"] is False  # its capture time is current: only the picture says it is stuck
    # 6 captures of the same picture (frozen_polls): the one taken as it stuck and five more
    assert flags == [False] * 8 + [True] * 2
    assert props["image_state"] == "frozen" and "映像が更新されていません" in (await cams.poll(sim.clock.now())).events[0].text


async def test_camera_whose_capture_time_stops_turns_stale_by_the_clock(sim, fetcher, tmp_path):
    plan = sim.scenario.cameras
    cams = sim_cameras(sim, fetcher, tmp_path, [plan.frozen])
    before = (await poll_at(sim, cams, plan.frozen_from_h))[plan.frozen]
    assert before["image_state"] == "ok"
    after = (await poll_at(sim, cams, plan.frozen_from_h + 0.6))[plan.frozen]
    assert after["taken_at"] == before["taken_at"] and after["stale"] is True and after["image_state"] == "stale"


@pytest.mark.parametrize("mode", ["status", "reset", "truncate", "wrong_type"])
async def test_stale_is_recomputed_by_the_clock_while_fetches_fail(sim, fetcher, tmp_path, mode):
    live = [c.id for c in CAMERAS[:2]]
    cams = sim_cameras(sim, fetcher, tmp_path, live)
    fresh = await poll_at(sim, cams, 3.0)
    assert all(p["stale"] is False for p in fresh.values())
    sim.set_fault("/cam/now/*", mode)
    sim.clock.jump_elapsed(4.0)  # an hour later, every camera failing
    snap = await cams.poll(sim.clock.now())
    assert set(snap.status_details["camera_errors"]) == set(live) and snap.failing.startswith("2 of 2 cameras failed")
    for event in snap.events:  # the last good picture is kept, and said to be an hour old
        props = event.properties
        assert props["taken_at"] == fresh[event.id.removeprefix("camera:")]["taken_at"]
        assert props["stale"] is True and props["image_state"] == "stale" and "映像が更新されていません" in event.text


async def test_stale_fault_serving_old_captures_is_stale(sim, fetcher, tmp_path):
    cams = sim_cameras(sim, fetcher, tmp_path, [CAMERAS[0].id])
    await poll_at(sim, cams, 3.0)
    sim.set_fault("/cam/now/*", "stale")
    props = (await poll_at(sim, cams, 4.0))[CAMERAS[0].id]
    assert props["stale"] is True and props["taken_at"] == "2026-07-10T03:00:00+09:00"


async def test_one_failing_camera_makes_the_source_failing_and_missing_cameras_are_listed(sim, fetcher, tmp_path):
    plan = sim.scenario.cameras
    configured = [c.id for c in CAMERAS] + ["999999999"]  # the storm's missing image, and one unknown upstream
    image_dir = tmp_path / "frames"
    source = {"type": "river_camera", "enabled": False, "url": f"{sim.base_url}/kawabou/file/files/master/obs/scam/",
              "cameras": configured, "image_dir": str(image_dir)}
    async with service_client(tmp_path, sources={SIM_SOURCE: source}) as client:
        cams = sim_cameras(sim, fetcher, image_dir, configured)
        poller = SourcePoller(cams, client.app[PIPELINE_KEY], client.app[STORE_KEY], clock=sim.clock.now)
        sim.clock.jump_elapsed(3.0)
        status = await poller.run_once()
        assert status.state == SourceState.FAILING
        assert set(status.details["camera_errors"]) == {plan.missing, "999999999"}
        head = (await client.app[STORE_KEY].feed_since(0))[-1].seq
        await client.app[SNAPSHOT_KEY].wait_built(head)

        (row,) = [r for r in (await (await client.get("/api/v1/sources")).json())["sources"] if r["id"] == SIM_SOURCE]
        assert row["state"] == "failing" and row["last_error"].startswith(f"2 of {len(configured)} cameras failed: ")
        assert f"{plan.missing}: HTTPStatusError" in row["last_error"] and "999999999: HTTPStatusError" in row["last_error"]
        assert "404" in row["last_error"]

        body = await (await client.get("/api/v1/events?kind=camera")).read()
        assert str(tmp_path).encode() not in body and b"latest.jpg" not in body  # no server file path
        features = {f["id"]: f for f in json.loads(body)["features"]}
        assert set(features) == {f"camera:{c}" for c in configured}
        missing = features[f"camera:{plan.missing}"]
        assert missing["properties"]["properties"]["image_state"] == "unavailable"
        assert missing["properties"]["properties"]["unavailable"] is True
        assert missing["geometry"]["type"] == "Point" and "映像を取得できません" in missing["properties"]["text"]
        unknown = features["camera:999999999"]
        assert unknown["geometry"] is None and unknown["properties"]["properties"]["image_state"] == "unavailable"
        live = features[f"camera:{CAMERAS[0].id}"]["properties"]["properties"]
        assert live["image_state"] == "ok" and live["taken_at"] == "2026-07-10T03:00:00+09:00"
        image = await client.get(f"/api/v1/cameras/{CAMERAS[0].id}/image")
        assert image.status == 200 and image.content_type == "image/jpeg"
        assert (await client.get(f"/api/v1/cameras/{plan.missing}/image")).status == 404

        # without the failing cameras the source is ok again and its failure list empty
        healthy = SourcePoller(sim_cameras(sim, fetcher, image_dir, [CAMERAS[0].id]), client.app[PIPELINE_KEY],
                               client.app[STORE_KEY], clock=sim.clock.now)
        recovered = await healthy.run_once()
        assert recovered.state == SourceState.OK and recovered.details["camera_errors"] == {}
