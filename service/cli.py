"""The `bosai` command: run, simulate, check-config, replay."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from service.settings import PROJECT_ROOT, ConfigError, load_settings

DEMO_CONFIG = PROJECT_ROOT / "config" / "default.toml"


def _load(path: str | None, overrides: dict | None = None):
    try:
        return load_settings(path, overrides)
    except ConfigError as exc:
        for key, msg in exc.errors:
            print(f"{exc.path}: {key}: {msg}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file; print each error with its key path; exit 2 on any error."""
    settings = _load(args.path)
    print(f"{args.path}: ok ({len(settings.sources)} sources, store {settings.store.url.split('://')[0]})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the service until SIGINT/SIGTERM."""
    from geo.store.base import StoreError
    from service.logging import configure
    from service.web import serve
    from service.web.app import create_app

    configure()
    overrides: dict = {"service": {}}
    if args.host:
        overrides["service"]["host"] = args.host
    if args.port is not None:
        overrides["service"]["port"] = args.port
    config = args.config or (str(DEMO_CONFIG) if args.demo else None)
    settings = _load(config, overrides)
    if args.demo and settings.demo.fresh_store:
        from service.web.demo import fresh_store

        # Each demo starts the storm at 00:00 on an empty store (demo.fresh_store = false resumes instead).
        for path in fresh_store(settings.store.url):
            print(f"bosai: demo starts on a fresh store (removed {path})", flush=True)
    app = create_app(settings, demo=args.demo, long_running=True)
    host, port = settings.service.host, settings.service.port
    print(f"bosai-hub portal: http://{host}:{port}/", flush=True)
    try:
        # As web.run_app, with requests aiohttp cannot parse answered as problem+json (service/web/serve.py).
        serve.run(app, host, port, settings.service.shutdown_timeout_s)
    except StoreError as exc:
        print(f"bosai: cannot start: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"bosai: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the upstream simulator alone."""
    from simulator import cli as sim_cli

    return sim_cli.run(args)


def cmd_replay(args: argparse.Namespace) -> int:
    """Feed recorded payloads through the parsers and pipeline; print changes as JSON lines."""
    import logging

    from service.logging import configure
    from service.replay import replay

    configure(level=logging.WARNING)
    return replay([Path(p) for p in args.paths], config=args.config, all_areas=args.all_areas)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `bosai`."""
    parser = argparse.ArgumentParser(prog="bosai", description="bosai-hub disaster-information service")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the service")
    run.add_argument("--config", help="TOML config (default: built-in defaults; config/default.toml with --demo)")
    run.add_argument("--demo", action="store_true", help="start the upstream simulator in-process and poll it")
    run.add_argument("--host", help="bind address (overrides the config)")
    run.add_argument("--port", type=int, help="port (overrides the config)")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("path")
    check.set_defaults(func=cmd_check_config)

    replay = sub.add_parser("replay", help="run recorded payloads through the pipeline (dry-run channels)")
    replay.add_argument("paths", nargs="+", metavar="FILE|DIR")
    replay.add_argument("--config", help="TOML config for the region and source settings")
    replay.add_argument("--all-areas", action="store_true", help="keep areas outside the configured prefecture")
    replay.set_defaults(func=cmd_replay)

    try:
        from simulator import cli as sim_cli
    except ImportError:
        sim_cli = None
    if sim_cli is not None and hasattr(sim_cli, "add_arguments"):
        simulate = sub.add_parser("simulate", help="run the upstream simulator alone")
        sim_cli.add_arguments(simulate)
        simulate.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `bosai` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
