"""The simulator's own JSON API under /_sim/: clock, faults, and the log of what was served."""
from __future__ import annotations

import json
from datetime import datetime

from aiohttp import web
from pydantic import ValidationError

from simulator.faults import FaultSpec
from simulator.keys import SIM

routes = web.RouteTableDef()


def _problem(status: int, detail: str) -> web.Response:
    body = {"type": "about:blank", "title": web.Response(status=status).reason, "status": status, "detail": detail}
    return web.json_response(body, status=status, content_type="application/problem+json")


async def _body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


@routes.get("/_sim/status")
async def status(request: web.Request) -> web.Response:
    """Scenario, seed and clock."""
    return web.json_response(request.app[SIM].status())


@routes.post("/_sim/clock")
async def clock(request: web.Request) -> web.Response:
    """Jump ({"to": ISO datetime} or {"elapsed_h": hours}) and/or change {"speed": x}."""
    sim = request.app[SIM]
    try:
        data = await _body(request)
        unknown = set(data) - {"to", "elapsed_h", "speed"}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        if "to" in data:
            sim.clock.jump(datetime.fromisoformat(str(data["to"])))
        elif "elapsed_h" in data:
            sim.clock.jump_elapsed(float(data["elapsed_h"]))
        if "speed" in data:
            sim.clock.set_speed(float(data["speed"]))
    except (ValueError, TypeError) as exc:
        return _problem(400, str(exc))
    return web.json_response(sim.clock.state())


@routes.post("/_sim/pause")
async def pause(request: web.Request) -> web.Response:
    """Stop scenario time."""
    sim = request.app[SIM]
    sim.clock.pause()
    return web.json_response(sim.clock.state())


@routes.post("/_sim/resume")
async def resume(request: web.Request) -> web.Response:
    """Let scenario time run again."""
    sim = request.app[SIM]
    sim.clock.resume()
    return web.json_response(sim.clock.state())


@routes.get("/_sim/faults")
async def list_faults(request: web.Request) -> web.Response:
    """Faults in force now (run-time and scheduled)."""
    sim = request.app[SIM]
    return web.json_response([f.as_dict() for f in sim.faults.active(sim.clock.elapsed_s())])


@routes.post("/_sim/faults")
async def set_fault(request: web.Request) -> web.Response:
    """Set a fault: {"path": "/developer/xml/*", "mode": "status", "status": 503, ...}."""
    sim = request.app[SIM]
    try:
        spec = FaultSpec.model_validate(await _body(request))
    except ValidationError as exc:
        err = exc.errors()[0]
        return _problem(400, f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}")
    except ValueError as exc:
        return _problem(400, str(exc))
    return web.json_response(sim.faults.set(spec, sim.clock.now()).as_dict(), status=201)


@routes.delete("/_sim/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Clear every run-time fault."""
    return web.json_response({"cleared": request.app[SIM].faults.clear()})


@routes.delete("/_sim/faults/{id:\\d+}")
async def clear_fault(request: web.Request) -> web.Response:
    """Clear one run-time fault."""
    cleared = request.app[SIM].faults.clear(int(request.match_info["id"]))
    return web.json_response({"cleared": cleared}) if cleared else _problem(404, "no such run-time fault")


@routes.get("/_sim/served")
async def served(request: web.Request) -> web.Response:
    """Requests served, oldest first; ?since=SEQ returns only later ones."""
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        return _problem(400, "since must be an integer")
    return web.json_response([e for e in request.app[SIM].served if e["seq"] > since])
