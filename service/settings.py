"""Typed, closed configuration: TOML files validated by pydantic, secrets from the environment.

Every model forbids unknown keys, so a typo is an error naming its key path, never a silent default.
`bosai check-config PATH` runs exactly this validation.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, create_model, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from collectors.base import SourceConfig
from collectors.registry import config_classes
from geo.region import GeoConfig
from service.push_config import DEFAULT_RULES, ChannelSettings, Rule

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DemoSettings(Closed):
    """The simulator `bosai run --demo` starts."""

    scenario: str = Field(default="heavy-rain", description="Scenario name or path of a scenario TOML file.")
    speed: float = Field(default=60, gt=0, description="Scenario seconds per real second.")
    seed: int = Field(default=1, description="Seed of every random draw in the scenario.")
    host: str = Field(default="127.0.0.1", description="Address the simulator listens on.")
    port: int = Field(default=8081, ge=1, le=65535, description="Port the demo sources point at.")
    fresh_store: bool = Field(
        default=True,
        description="Start each demo on a fresh store (a SQLite store's file is replaced); otherwise resume the "
        "storm where the store left off.",
    )


class ServiceSettings(Closed):
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port of the HTTP server.")
    public_url: str = Field(default="http://127.0.0.1:8080/", description="Base URL residents reach, used in links.")
    data_dir: Path = Field(default=Path("var"), description="Directory for the SQLite file, images and snapshots.")
    timezone: str = Field(default="Asia/Tokyo", description="Time zone in which times are shown.")
    shutdown_timeout_s: float = Field(default=15, gt=0, description="Time allowed for in-flight work on shutdown.")
    clock_url: str | None = Field(
        default=None,
        description="Follow the scenario clock of an external simulator at this base URL (rehearsals, crash tests).",
    )
    clock_sync_s: float = Field(default=5, gt=0, description="How often the external simulator's clock is read again.")


class PortalSettings(Closed):
    tile_url: str = Field(
        default="https://cyberjapandata.gsi.go.jp/xyz/pale/{z}/{x}/{y}.png",
        description="Base map tiles ({z}/{x}/{y} template; default GSI 淡色地図). Empty: the municipality outline alone.",
    )
    tile_attribution: str = Field(default="地理院タイル", description="Credit shown on the map for the tiles (text).")
    tile_attribution_url: str = Field(
        default="https://maps.gsi.go.jp/development/ichiran.html", description="Where the tiles' credit links to."
    )
    tile_max_zoom: int = Field(default=18, ge=1, le=22, description="Highest zoom the tile server offers.")


class StoreSettings(Closed):
    url: str = Field(
        default="var/bosai.sqlite3",
        description="A file path (SQLite, embedded) or redis://HOST:PORT/DB (shared). BOSAI_STORE_URL overrides.",
    )
    connect_retry_max_s: float = Field(default=30, gt=0, description="Longest wait between connection retries.")

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from geo.store import open_store

        open_store(value)  # constructs only, no I/O: raises ValueError naming a bad URL
        return value


class Secrets(BaseSettings):
    """Secrets and deployment overrides, only ever from BOSAI_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="BOSAI_", extra="ignore")

    store_url: str | None = None
    x_api_key: SecretStr | None = None
    x_api_secret: SecretStr | None = None
    x_access_token: SecretStr | None = None
    x_access_secret: SecretStr | None = None
    mastodon_token: SecretStr | None = None
    lalert_password: SecretStr | None = None
    operator_token: SecretStr | None = None  # operator entry (orders, shelter status) until console accounts land
    session_secret: SecretStr | None = None


def _sources_field() -> Any:
    classes = list(config_classes().values())
    if not classes:
        return dict[str, SourceConfig]
    if len(classes) == 1:
        return dict[str, classes[0]]
    return dict[str, Annotated[Union[tuple(classes)], Field(discriminator="type")]]  # noqa: UP007


class Settings(Closed):
    """The whole configuration. `sources` is typed by the registered collectors' config classes when
    it is validated (`load_settings`); here it names their common base."""

    service: ServiceSettings = Field(default_factory=ServiceSettings, description="HTTP service.")
    store: StoreSettings = Field(default_factory=StoreSettings, description="Where events are kept.")
    portal: PortalSettings = Field(default_factory=PortalSettings, description="The resident portal's map.")
    region: GeoConfig = Field(default_factory=GeoConfig, description="The prefecture served: codes, boundaries, shelters.")
    sources: dict[str, SourceConfig] = Field(default_factory=dict, description="Upstreams polled, by source id.")
    channels: dict[str, ChannelSettings] = Field(
        default_factory=dict, description="Push channels by name (type x, mastodon or dry); none = nothing pushed.")
    rules: list[Rule] = Field(
        default_factory=lambda: list(DEFAULT_RULES), description="Push rule table, first match decides (publishers/rules.py).")
    demo: DemoSettings = Field(default_factory=DemoSettings, description="The simulator of `bosai run --demo`.")


def _settings_model() -> type[Settings]:
    # The collectors register their config classes at import; `sources` is their tagged union.
    return create_model(
        "Settings",
        __base__=Settings,
        sources=(_sources_field(), Field(default_factory=dict, description="Upstreams polled, by source id.")),
    )


class ConfigError(Exception):
    """A configuration file that cannot be used; `errors` lists (key path, message)."""

    def __init__(self, path: Path | str, errors: list[tuple[str, str]]) -> None:
        self.path = str(path)
        self.errors = errors
        super().__init__("\n".join(f"{self.path}: {key}: {msg}" for key, msg in errors))


def _key_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(root)"


def load_settings(path: Path | str | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read and validate a TOML config (or the defaults when `path` is None); raises ConfigError."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(path, [("(file)", "no such file")]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(path, [("(syntax)", str(exc))]) from None
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    try:
        settings = _settings_model().model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            loc = tuple(part for part in err["loc"] if not (isinstance(part, str) and part in config_classes()))
            errors.append((_key_path(loc), err["msg"]))
        raise ConfigError(path or "(defaults)", errors) from None
    secrets = Secrets()
    if secrets.store_url:
        settings.store.url = secrets.store_url
    return settings


def secrets() -> Secrets:
    """Secrets from the environment."""
    return Secrets()
