"""defaults < TOML file < environment, validated once, every problem reported.

``load_settings`` raises ``ConfigError`` listing one line per problem, each
naming the key as written in the TOML file (``tcp.port``) and where the bad
value came from; the CLI prints them and exits with status 2.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from config.settings import (
    AlarmSettings,
    CameraSettings,
    ChatSettings,
    ClusterSettings,
    CommandSettings,
    DatabaseSettings,
    DataSettings,
    DispatchSettings,
    FloorSettings,
    GatewaySettings,
    JobSettings,
    LoggingSettings,
    MediaSettings,
    MqttSettings,
    RecorderSettings,
    RedisSettings,
    RobotConfig,
    SpoolSettings,
    TcpSettings,
    UdpSettings,
    UploadSettings,
    Vda5050Settings,
    WebhookSettings,
    WebSettings,
)

ENV_PREFIX = "ROBODINE_"
CONFIG_ENV = "ROBODINE_CONFIG"


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,  # ROBODINE_TCP_MAX_FRAME_BYTES -> tcp.max_frame_bytes
        extra="forbid",
        frozen=True,
    )

    gateway: GatewaySettings = GatewaySettings()
    tcp: TcpSettings = TcpSettings()
    udp: UdpSettings = UdpSettings()
    camera: CameraSettings = CameraSettings()
    redis: RedisSettings = RedisSettings()
    spool: SpoolSettings = SpoolSettings()
    commands: CommandSettings = CommandSettings()
    dispatch: DispatchSettings = DispatchSettings()
    data: DataSettings = DataSettings()
    logging: LoggingSettings = LoggingSettings()
    floor: FloorSettings = FloorSettings()
    web: WebSettings = WebSettings()
    database: DatabaseSettings = DatabaseSettings()
    chat: ChatSettings = ChatSettings()
    mqtt: MqttSettings = MqttSettings()
    vda5050: Vda5050Settings = Vda5050Settings()
    media: MediaSettings = MediaSettings()
    uploads: UploadSettings = UploadSettings()
    jobs: JobSettings = JobSettings()
    webhooks: WebhookSettings = WebhookSettings()
    recorder: RecorderSettings = RecorderSettings()
    alarms: AlarmSettings = AlarmSettings()
    cluster: ClusterSettings = ClusterSettings()
    robots: list[RobotConfig] = []

    @model_validator(mode="after")
    def _vda5050(self) -> Settings:
        if self.vda5050.enabled and not self.mqtt.enabled:
            raise ValueError("vda5050.enabled: needs mqtt.enabled = true (VDA 5050 runs over MQTT)")
        if self.vda5050.enabled:
            _check_floor_graph(self.floor)
        seen: dict[tuple[str, str], str] = {}
        for r in self.robots:
            if r.vda is not None:
                key = (r.vda.manufacturer, r.vda.serial)
                if key in seen:
                    raise ValueError(
                        f"robots: {seen[key]!r} and {r.id!r} have the same VDA 5050 "
                        f"identity {key[0]}/{key[1]}"
                    )
                seen[key] = r.id
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs (see load_settings), so the
        # environment must come first to win over it.
        return (_Environment(settings_cls), init_settings)

    def robot(self, robot_id: str) -> RobotConfig | None:
        return next((r for r in self.robots if r.id == robot_id), None)


class _Environment(EnvSettingsSource):
    """ROBODINE_* variables; a list of plain values may be JSON or a comma list
    (``ROBODINE_WEB_ORIGINS=http://a,http://b``). A value that is neither stays a string,
    so validation reports it as one problem naming the key, never a traceback."""

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)  # type: ignore[arg-type]
        except ValueError:
            if field is not None and _plain_list(field.annotation):
                return [item.strip() for item in str(value).split(",") if item.strip()]
            return value


def _plain_list(annotation: Any) -> bool:
    """list[str], list[Role] ...: items that a comma list can spell."""
    if get_origin(annotation) is not list:
        return False
    (item,) = get_args(annotation) or (Any,)
    return item is str or get_origin(item) is Literal


def _check_floor_graph(floor: FloorSettings) -> None:
    """The floor graph's node ids are spot names (gateway/vda5050/graph.py): unique, and
    configured links must name them and connect them all."""
    names = [
        floor.kitchen_pass.name,
        *(p.name for group in (floor.docks, floor.tables, floor.waypoints) for p in group),
    ]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"floor: spot names must be unique for the VDA 5050 graph: {dupes}")
    if not floor.links:
        return
    near: dict[str, set[str]] = {n: set() for n in names}
    for a, b in floor.links:
        for n in (a, b):
            if n not in near:
                raise ValueError(f"floor.links: unknown spot {n!r}")
        near[a].add(b)
        near[b].add(a)
    seen, todo = {names[0]}, [names[0]]
    while todo:
        for n in near[todo.pop()] - seen:
            seen.add(n)
            todo.append(n)
    if len(seen) < len(names):
        raise ValueError(
            f"floor.links: no path from {names[0]!r} to {', '.join(sorted(set(names) - seen))}"
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError([f"config: file {str(path)!r} not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"config: {path} is not valid TOML: {exc}"]) from None


def load_settings(path: str | Path | None = None) -> Settings:
    """Load and validate; raise ConfigError with one line per problem."""
    if path is None:
        path = os.environ.get(CONFIG_ENV) or None
    data = _read_toml(Path(path)) if path else {}
    problems = _duplicate_robots(data.get("robots")) + _unknown_env()
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(problems + [_describe(e) for e in exc.errors()]) from None
    except SettingsError as exc:  # the environment could not be read at all
        raise ConfigError([*problems, f"environment: {exc}"]) from None
    if problems:
        raise ConfigError(problems)
    return settings


def _unknown_env() -> list[str]:
    """ROBODINE_<SECTION>_... naming no section would be ignored silently: make it an error.

    (A wrong key inside a known section is already refused by the settings model.)
    """
    sections = {section.upper() for section in Settings.model_fields}
    return [
        f"{name}: unknown setting (misspelled?)"
        for name in sorted(os.environ)
        if name.startswith(ENV_PREFIX)
        and name != CONFIG_ENV
        and name.removeprefix(ENV_PREFIX).split("_", 1)[0] not in sections | {"TEST"}
    ]


# Keys that moved, old -> new: refused with a line that names the new key.
MOVED = {
    # They limit telemetry from every transport, not UDP's alone.
    "udp.rate_per_s": "gateway.telemetry_rate_per_s",
    "udp.burst": "gateway.telemetry_burst",
}


def problem(key: str, message: str) -> str:
    """One problem line about ``section.key``, as ``load_settings`` reports them:
    the key as written in the TOML file and the environment variable that sets it."""
    env = f" (env {ENV_PREFIX}{key.replace('.', '_').upper()})" if key.count(".") == 1 else ""
    return f"{key}: {message}{env}"


def _describe(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    msg: str = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        msg = "required value is missing"
    if err["type"] == "extra_forbidden":
        moved = MOVED.get(loc)
        msg = f"moved to {moved}" if moved else "unknown key (misspelled?)"
        return f"{loc}: {msg}"
    if not loc:
        return msg  # a rule across sections
    if len(err["loc"]) != 2 or loc == "robots":
        return f"{loc}: {msg}"
    return problem(loc, msg)


def _duplicate_robots(robots: object) -> list[str]:
    if not isinstance(robots, list):
        return []
    seen: set[object] = set()
    out = []
    for i, r in enumerate(robots):
        rid = r.get("id") if isinstance(r, dict) else None
        if rid in seen:
            out.append(f"robots.{i}.id: duplicate robot id {rid!r}")
        seen.add(rid)
    return out
