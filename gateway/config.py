"""Configuration: a TOML file in the user config dir, overridable by environment.

Precedence (highest first): ``RETROGATE_...`` environment variables (nested
keys with ``__``, e.g. ``RETROGATE_MQTT__BROKER``), the file given with
``--config``, the default file. An invalid file is refused with its path,
line and key, and nothing starts.
"""

from __future__ import annotations

import re
import socket
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import tomli_w
from platformdirs import user_config_dir, user_data_dir
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .destinations import UploadService
from .errors import RetrogateError
from .safety.limits import SafetyLimits
from .validation import describe, refuse_bool_for_number

APP = "retrogate"
MAC = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$")  # a Bluetooth address
ADDRESS = re.compile(rf"{MAC.pattern}|^sim(:.*)?$")  # ... or the simulator


def default_config_path() -> Path:
    """``~/.config/retrogate/config.toml`` on Linux."""
    return Path(user_config_dir(APP)) / "config.toml"


def _default_id() -> str:
    return re.sub(r"[^a-z0-9_-]", "-", socket.gethostname().lower()) or "gateway"


class RunnerProfile(BaseModel):
    """Who runs: for the HR ceiling (age) and the energy estimate."""

    model_config = ConfigDict(extra="forbid")

    age: int = Field(40, ge=10, le=100)
    weight_kg: float = Field(70.0, gt=20, le=300)
    sex: Literal["male", "female"] | None = None
    experience: Literal["new", "experienced", "rehabilitation"] = Field(
        "new",
        description="where `retrogate coach` starts: new to backward walking, experienced "
        "(backward running), or rehabilitation (with max_backward_kmh)",
    )
    max_backward_kmh: float | None = Field(
        None, gt=0, le=12, description="a lower ceiling for the coach than the backward cap"
    )
    threshold_pace: str | None = Field(
        None,
        description='your threshold pace in minutes per km ("4:45"): imported workouts '
        "(.zwo, intervals.icu) give paces as a share of it",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_for_number(cls, value, info)

    @field_validator("threshold_pace")
    @classmethod
    def _pace(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9]{1,2}:[0-5][0-9]", value):
            raise ValueError(f'expected minutes:seconds per km, like "4:45", not {value!r}')
        if value is not None and value in ("0:00", "00:00"):
            raise ValueError("a threshold pace of 0:00 per km is not a pace")
        return value

    @property
    def threshold_kmh(self) -> float | None:
        """The threshold pace as a belt speed."""
        if self.threshold_pace is None:
            return None
        minutes, seconds = self.threshold_pace.split(":")
        per_km_s = int(minutes) * 60 + int(seconds)
        return 3600 / per_km_s if per_km_s else None


class StationConfig(BaseModel):
    """One treadmill with its optional heart-rate strap."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    treadmill: str = Field(description="Bluetooth address, or 'sim' for the simulator")
    treadmill_name: str | None = None
    hrm: str | None = Field(None, description="Bluetooth address of the HR strap, if any")
    hrm_name: str | None = None
    safety: SafetyLimits | None = None

    @field_validator("treadmill", "hrm")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not ADDRESS.match(value):
            raise ValueError("expected a Bluetooth address like AA:BB:CC:DD:EE:FF, or 'sim'")
        return value


class CentralBridge(BaseModel):
    """The embedded mosquitto as a bridge to a site's central broker (docs/gym.md)."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="the central broker's host name or address",
    )
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = Field(None, description="TLS: the CA that signed the central broker")
    cert_file: Path | None = Field(None, description="TLS: this gateway's certificate")
    key_file: Path | None = None
    client_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="the bridge's client id on the central broker (default: "
        "retrogate-bridge-<gateway_id>); one per gateway, or they throw each other off",
    )
    queue_max: int = Field(
        1_000_000,
        ge=1000,
        description="messages kept for the central broker while it is unreachable",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_for_number(cls, value, info)


class MqttConfig(BaseModel):
    """Where to publish; 'embedded' starts a broker inside the gateway."""

    model_config = ConfigDict(extra="forbid")

    broker: str = Field(
        "embedded", description='"embedded" (in-process), "none" (no MQTT), or a host name'
    )
    embedded_bind: str = "127.0.0.1"
    embedded: Literal["auto", "mosquitto", "amqtt"] = Field(
        "auto",
        description="the embedded broker: a private mosquitto when installed (auto), "
        "or amqtt in-process (MQTT 3.1.1, no password)",
    )
    protocol: Literal["3.1.1", "5"] = "5"
    port: int = Field(1883, ge=1, le=65535)
    prefix: str = Field("retrogate", pattern=r"^[A-Za-z0-9_/-]+$")
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    bridge: CentralBridge | None = Field(
        None, description="bridge the embedded mosquitto to a central broker (docs/gym.md)"
    )

    @model_validator(mode="after")
    def _bridge_needs_embedded(self) -> MqttConfig:
        if self.bridge is not None and (self.broker != "embedded" or self.embedded == "amqtt"):
            raise ValueError(
                "[mqtt.bridge] makes the embedded mosquitto a bridge: it needs broker = "
                '"embedded" (for your own broker, add the bridge to its config: docs/gym.md)'
            )
        return self

    broker_autosave_s: float = Field(
        30.0,
        ge=0,
        le=86_400,
        description="the broker's autosave_interval: after a reconnect, everything the broker "
        "acknowledged more recently than this is sent again (it may not have reached its disk)",
    )
    replay_overlap: int = Field(
        200,
        ge=0,
        description="stream messages re-sent before the last acknowledged one after a reconnect "
        "(a broker killed after its PUBACK may never have delivered them)",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_for_number(cls, value, info)


class VoiceConfig(BaseModel):
    """Spoken cues for a runner facing away from the screen (``--voice``, docs/dashboard.md)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="speak cues on `run` (also: --voice; --mute)")
    voice: str = Field(
        "en-gb",
        pattern=r"^[A-Za-z0-9_+-]{1,40}$",
        description="espeak-ng voice or language (`espeak-ng --voices` lists them)",
    )
    rate_wpm: int = Field(165, ge=80, le=450, description="words a minute")
    min_gap_s: float = Field(6.0, ge=0, le=60, description="between two chatty cues")
    record_dir: Path | None = Field(
        None, description="write each cue to a WAV file here instead of the speaker"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_for_number(cls, value, info)


BridgeService = Literal["ftms", "hr", "rsc"]
BRIDGE_SERVICES: tuple[BridgeService, ...] = ("ftms", "hr", "rsc")


class BridgeConfig(BaseModel):
    """retrogate as a treadmill for the runner's app (``run --bridge``, docs/bridge.md)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="offer the first station to apps (also: --bridge)")
    adapter: str | None = Field(
        None,
        pattern=r"^hci[0-9]{1,2}$",
        description="the adapter apps connect to (default: the gateway's own, central and "
        "peripheral at once)",
    )
    name: str = Field(
        "retrogate",
        min_length=1,
        max_length=20,
        description="the name apps list (20 bytes at most)",
    )
    services: list[BridgeService] = Field(
        default_factory=lambda: list(BRIDGE_SERVICES),
        description="ftms (apps), hr (heart rate relayed), rsc (a footpod for watches)",
    )

    @field_validator("services")
    @classmethod
    def _ftms_first(cls, value: list[BridgeService]) -> list[BridgeService]:
        if "ftms" not in value:
            raise ValueError("the bridge is an FTMS treadmill: 'ftms' must be in services")
        return value


class UploadConfig(BaseModel):
    """Where a session goes when it ends (docs/platforms.md)."""

    model_config = ConfigDict(extra="forbid")

    after_session: list[UploadService] = Field(
        default_factory=list,
        description='upload every session when it ends: ["strava"], ["intervals"] or both '
        "(connect them first: `retrogate connect strava`)",
    )
    wait_s: float = Field(
        30.0,
        ge=0,
        le=600,
        description="how long a stopping gateway waits for the uploads of the session it "
        "ends (what is not done by then goes at the next start)",
    )
    strava_url: str = Field("https://www.strava.com", pattern=r"^https?://[^\s/]+(:[0-9]+)?$")
    intervals_url: str = Field("https://intervals.icu", pattern=r"^https?://[^\s/]+(:[0-9]+)?$")

    @field_validator("wait_s", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_for_number(cls, value, info)


class Settings(BaseSettings):
    """Everything the gateway reads at start."""

    model_config = SettingsConfigDict(
        env_prefix="RETROGATE_", env_nested_delimiter="__", extra="forbid", toml_file=None
    )

    gateway_id: str = Field(default_factory=_default_id, pattern=r"^[a-z0-9_-]{1,40}$")
    adapter: str = "hci0"
    stations: list[StationConfig] = Field(default_factory=list)
    safety: SafetyLimits = Field(default_factory=SafetyLimits)
    runner: RunnerProfile = Field(default_factory=RunnerProfile)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    bridge: BridgeConfig = Field(default_factory=BridgeConfig)
    upload: UploadConfig = Field(default_factory=UploadConfig)
    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir(APP)))
    plans_dir: Path = Field(
        default_factory=lambda: Path(user_config_dir(APP)) / "plans",
        description="your own plans: `load_plan` over MQTT takes a builtin or a file here, by name",
    )

    _path: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def limits_for(self, station: StationConfig) -> SafetyLimits:
        """The station's limits (or the global ones), with the runner's age."""
        base = station.safety or self.safety
        return base.model_copy(
            update={"age": self.runner.age, "hr_expected": station.hrm is not None}
        )

    @property
    def path(self) -> Path | None:
        """The file this configuration came from, if any."""
        return self._path


class ConfigError(RetrogateError):
    """The configuration could not be read or is invalid."""


# Keys that SafetyLimits has but the gateway sets itself: a value in the file
# would be silently replaced, so it is refused instead (one place for each).
_SHADOWED = {
    "age": "the runner's age belongs in [runner] (age = ...), where the HR ceiling reads it",
    "hr_expected": "the gateway sets it from the paired heart-rate source",
}


def _refuse_shadowed(settings: Settings, path: Path, text: str) -> None:
    tables: list[tuple[tuple[int | str, ...], SafetyLimits]] = [(("safety",), settings.safety)]
    tables += [
        (("stations", i, "safety"), st.safety)
        for i, st in enumerate(settings.stations)
        if st.safety is not None
    ]
    for where, limits in tables:
        for key, why in _SHADOWED.items():
            if key in limits.model_fields_set:
                line = _line_of(text, (*where, key))
                at = f"line {line}, " if line else ""
                name = ".".join(str(part) for part in where if isinstance(part, str))
                raise ConfigError(f"{path}: {at}{name}.{key}: not allowed here: {why}")


def _line_of(text: str, loc: Sequence[int | str]) -> int | None:
    """The line where the key at ``loc`` (pydantic's error location) is set.

    Table-aware: ``("runner", "age")`` is the ``age`` under ``[runner]``, not
    the first ``age =`` in the file; ``("stations", 1, "hrm")`` is in the
    second ``[[stations]]``.
    """
    names = [part for part in loc if isinstance(part, str)]
    if not names:
        return None
    table, key = ".".join(names[:-1]), names[-1]
    index = next((part for part in loc if isinstance(part, int)), 0)
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    assignment = re.compile(rf"^\s*{re.escape(key)}\s*=")
    current, seen = "", {"": 0}
    for number, line in enumerate(text.splitlines(), 1):
        found = header.match(line)
        if found:
            current = found.group(1)
            seen[current] = seen.get(current, -1) + 1
            if "." in current:  # [stations.safety] belongs to the latest [[stations]]
                seen[current] = seen.get(current.split(".")[0], 0)
            continue
        if current == table and seen.get(current, 0) == index and assignment.match(line):
            return number
    return None


def load_config(path: Path | None = None) -> Settings:
    """Load ``path`` (or the default file, if it exists) plus the environment."""
    explicit = path is not None
    path = path or default_config_path()
    if explicit and not path.exists():
        raise ConfigError(f"{path}: no such file (run `retrogate pair` to create one)")
    text = ""
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
            tomllib.loads(text)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise ConfigError(f"{path}: line {line}: not UTF-8 text (save it as UTF-8)") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    # The TOML source reads the file named in model_config, so each load uses
    # a subclass that names its own file (no module-level state).
    config = SettingsConfigDict(**Settings.model_config)
    config["toml_file"] = path if text else None
    file_settings = type("FileSettings", (Settings,), {"model_config": config})
    try:
        settings: Settings = file_settings()
    except ValidationError as exc:

        def at_line(loc: Sequence[int | str]) -> str:
            line = _line_of(text, loc)
            return f"line {line}, " if line else ""

        raise ConfigError(f"{path}: {describe(exc, 'config', at_line)}") from exc
    _refuse_shadowed(settings, path, text)
    settings._path = path if text else None
    return settings


def save_config(settings: Settings, path: Path) -> None:
    """Write the configuration as TOML (what ``retrogate pair`` does).

    Only what was chosen (in the file, or by ``pair``) is written: later
    changes to a default reach every user who did not choose otherwise.
    """
    data: dict[str, Any] = settings.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    if settings.mqtt.password is not None and "mqtt" in data:
        data["mqtt"]["password"] = settings.mqtt.password.get_secret_value()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
