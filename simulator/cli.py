"""Command line of the simulator: `python -m simulator` and `bosai simulate` share these options."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from simulator import scenario as scenario_mod

DEFAULT_PORT = 8081


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to a parser."""
    parser.add_argument("--scenario", default="heavy-rain",
                        help=f"scenario name ({', '.join(scenario_mod.available())}) or path to a .toml file")
    parser.add_argument("--speed", type=float, default=60.0,
                        help="scenario seconds per real second (720: a 24 h event in 2 minutes)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random draw")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 2 for a bad scenario or option, 0 after a clean stop."""
    if args.speed <= 0:
        print("error: --speed must be positive", file=sys.stderr)
        return 2
    try:
        scenario_mod.load(args.scenario)
    except scenario_mod.ScenarioError as exc:
        print(f"error: invalid scenario: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(args: argparse.Namespace) -> None:
    from simulator.server import running_simulator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_simulator(args.scenario, args.speed, args.seed, args.host, args.port) as sim:
        meta = sim.scenario.scenario
        print(f"simulator: scenario {meta.name} (seed {sim.seed}, speed x{sim.clock.speed:g}) "
              f"serving on {sim.base_url}", flush=True)
        await stop.wait()
    print("simulator: stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m simulator`."""
    parser = argparse.ArgumentParser(prog="python -m simulator", description="bosai-hub upstream simulator")
    add_arguments(parser)
    return run(parser.parse_args(argv))
