"""Typed settings shared by every process (the reference is config/example.toml).

Each section is a frozen pydantic model. ``extra="forbid"`` everywhere, so a
misspelled key in the TOML file is an error at start, not a silent default.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from config.network import own_origins
from protocol.auth import parse_key
from protocol.sealing import parse_data_key
from protocol.vda5050.versions import SPOKEN, dialect_for, is_version
from protocol.vocabulary import RobotKind

Port = Annotated[int, Field(ge=0, le=65535)]
Seconds = Annotated[float, Field(gt=0, le=86400)]
Positive = Annotated[int, Field(gt=0)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GatewaySettings(Section):
    name: str = Field("gateway-1", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    heartbeat_s: Seconds = 1.0
    stale_after_s: Seconds = 3.0
    offline_after_s: Seconds = 10.0
    shutdown_timeout_s: Seconds = 5.0
    # Telemetry samples per robot per second, sustained and in a burst, whichever
    # transport (TCP, UDP, MQTT, VDA 5050) they come by; the excess is dropped and counted.
    telemetry_rate_per_s: Positive = 200
    telemetry_burst: Positive = 400
    metrics_host: str = "127.0.0.1"
    metrics_port: Port = 9464  # Prometheus /metrics; 0 turns it off

    @model_validator(mode="after")
    def _ordered(self) -> GatewaySettings:
        if not self.heartbeat_s < self.stale_after_s < self.offline_after_s:
            raise ValueError("need heartbeat_s < stale_after_s < offline_after_s")
        return self


class TcpSettings(Section):
    host: str = "0.0.0.0"
    port: Port = 7700
    max_frame_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    handshake_timeout_s: Seconds = 5.0
    max_strikes: Positive = 5  # bad frames tolerated before the connection is closed
    rate_per_s: Positive = 200  # messages per connection per second, sustained
    burst: Positive = 400


class UdpSettings(Section):
    host: str = "0.0.0.0"
    port: Port = 7701
    max_datagram_bytes: Annotated[int, Field(ge=64, le=65507)] = 1400
    # Absorbs bursts while the loop is busy; capped by net.core.rmem_max
    # (systemd/99-robodine.conf raises it on an edge box).
    receive_buffer_bytes: Annotated[int, Field(ge=65536, le=256 * 1024 * 1024)] = 4 * 1024 * 1024


class CameraSettings(Section):
    """Robot cameras at the gateway (docs/protocol.md §11, docs/streams.md, Cameras)."""

    enabled: bool = True  # off: no camera socket, chunks over TCP dropped
    port: Port = 7702  # signed camera chunks over UDP (told in `welcome` as camera_port)
    max_datagram_bytes: Annotated[int, Field(ge=128, le=65507)] = 1400
    receive_buffer_bytes: Annotated[int, Field(ge=65536, le=256 * 1024 * 1024)] = 4 * 1024 * 1024
    max_frame_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 512 * 1024
    frame_timeout_s: Seconds = 1.0  # a frame not whole by then is dropped as incomplete
    assembly_bytes: Annotated[int, Field(ge=64 * 1024, le=1024**3)] = 16 * 1024 * 1024
    max_fps: Annotated[float, Field(gt=0, le=120)] = 30.0  # whole frames per camera per second
    stale_after_s: Seconds = 2.0  # no whole frame for this long: the camera is stale
    off_after_s: Seconds = 10.0  # ... and off (also when its robot goes offline)
    stream_maxlen: Annotated[int, Field(ge=1, le=10_000)] = 30  # frames kept per camera stream
    flush_max_bytes: Annotated[int, Field(ge=64 * 1024, le=256 * 1024 * 1024)] = 2 * 1024 * 1024

    @model_validator(mode="after")
    def _ordered(self) -> CameraSettings:
        if not self.stale_after_s < self.off_after_s:
            raise ValueError("need stale_after_s < off_after_s")
        return self


class RedisSettings(Section):
    url: str = "redis://127.0.0.1:6379/0"
    telemetry_maxlen: Positive = 100_000  # XADD MAXLEN ~ for rd:telemetry
    events_maxlen: Positive = 100_000  # XADD MAXLEN ~ for rd:events
    batch_max: Positive = 2000  # entries per pipeline
    telemetry_buffer_max: Positive = 50_000  # telemetry waiting in memory; beyond, oldest dropped
    connect_timeout_s: Seconds = 2.0
    # The longest wait for the reply to a command that does not block (a gateway
    # flush, a command of a web request): a Redis slower than this counts as away.
    request_timeout_s: Annotated[float, Field(gt=0, le=30)] = 0.5
    # While Redis does not answer, the web tier tries it with one request this often
    # and answers the others 503 at once (docs/api.md, section 3).
    probe_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    command_block_ms: Annotated[int, Field(ge=10, le=4000)] = 1000
    commands_retention_s: Seconds = 86400.0  # rd:commands entries older than this are trimmed
    # The first part of every key: "rd" (rd:events ...), or "{rd}" for Redis Cluster, a
    # hash tag that puts every key in one slot (docs/scaling.md, Redis Cluster).
    key_prefix: str = "rd"

    @field_validator("key_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        from robodine.redisio.keys import Keys

        Keys(v)  # ValueError: what is wrong with it
        return v

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if v.startswith("redis+sentinel://"):
            from robodine.redisio.sentinel import parse

            parse(v)  # ValueError: what is wrong with it
            return v
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss://, unix:// or redis+sentinel://")
        return v


class ClusterSettings(Section):
    """Several gateways on one Redis (docs/scaling.md). Off: one gateway per Redis, as before."""

    enabled: bool = False
    # Robot leases, the gateway's liveness and the leader lease live this long in Redis
    # without renewal (renewed every third of it): a dead gateway's robots and its
    # dispatcher are free for another after at most this.
    lease_ttl_s: Annotated[float, Field(ge=0.5, le=60)] = 3.0


class SpoolSettings(Section):
    path: Path = Path("var/spool/gateway.sqlite3")
    max_records: Positive = 200_000


class CommandSettings(Section):
    ack_timeout_s: Seconds = 2.0
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    ttl_s: Seconds = 30.0  # a command not delivered within this fails as expired


class MqttSettings(Section):
    """The gateway's MQTT client (robodine/v1 robots and VDA 5050 AGVs; docs/mqtt.md)."""

    enabled: bool = False  # off: no broker needed (TCP/UDP-only setups)
    url: str = "mqtt://127.0.0.1:1883"  # mqtt://host[:port] or mqtts://host[:port] (TLS)
    username: str | None = None  # the broker login of the gateway (ACL user robodine-gateway)
    password: SecretStr | None = None
    client_id: str = Field("", pattern=r"^[A-Za-z0-9._-]{0,64}$")  # "": robodine-{gateway.name}
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    # A persistent session (clean_session false) keeps our subscriptions and the
    # QoS 1 messages robots send while the gateway restarts (docs/mqtt.md).
    persistent_session: bool = True
    reconnect_max_s: Seconds = 10.0  # cap of the reconnect backoff (full jitter from 0.1 s)
    # Publications waiting while the broker is away; beyond, the oldest is dropped.
    max_queued_outgoing: Annotated[int, Field(ge=10, le=1_000_000)] = 10_000
    # A larger robodine/v1 payload is dropped (VDA 5050 has its own 1 MiB limit).
    max_payload_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024

    @field_validator("url")
    @classmethod
    def _mqtt_scheme(cls, v: str) -> str:
        if not v.startswith(("mqtt://", "mqtts://")):
            raise ValueError("must start with mqtt:// or mqtts://")
        return v


class Vda5050Settings(Section):
    """The gateway as VDA 5050 master control (docs/vda5050.md, Master control)."""

    enabled: bool = False  # needs [mqtt] enabled
    interface: str = Field("uagv", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")  # first topic level
    map_id: str = Field("restaurant", min_length=1)  # mapId of every node we send
    # The standard asks for a state at least every 30 s: silent longer is `stale`.
    # An AGV goes `offline` only by its connection topic (OFFLINE or the last will).
    stale_after_s: Seconds = 35.0
    release_nodes: Annotated[int, Field(ge=1, le=100)] = 2  # base: nodes released ahead of the AGV
    resend_s: Seconds = 2.0  # an order update not seen in `state` within this is sent again
    max_resends: Annotated[int, Field(ge=0, le=100)] = 5  # ... this many times, then an alarm
    return_after_s: Seconds = 10.0  # at a table this long without pickup_done: drive back
    node_deviation_m: Annotated[float, Field(ge=0, le=10)] = 0.3  # allowedDeviationXY of nodes


class DispatchSettings(Section):
    # A serving robot below min_battery % takes no delivery; an idle one below
    # dock_below % is sent to a dock. cook_seconds: per portion, sent with `cook`.
    min_battery: Annotated[float, Field(ge=0, le=100)] = 30.0
    dock_below: Annotated[float, Field(ge=0, le=100)] = 20.0
    cook_seconds: Annotated[float, Field(gt=0, le=3600)] = 20.0


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"  # auto: JSON unless stderr is a terminal


class Point(Section):
    name: str
    x: float
    y: float


class FloorSettings(Section):
    width: Annotated[float, Field(gt=0)] = 20.0
    height: Annotated[float, Field(gt=0)] = 12.0
    kitchen_pass: Point = Point(name="pass", x=1.0, y=6.0)
    docks: list[Point] = [Point(name="dock-1", x=1.0, y=1.0), Point(name="dock-2", x=1.0, y=11.0)]
    tables: list[Point] = []
    # The floor graph VDA 5050 orders follow (gateway/vda5050/graph.py): its nodes
    # are the pass, the docks, the tables and these waypoints (aisle points).
    waypoints: list[Point] = []
    # Edges as pairs of node names. Empty: derived (a minimum spanning tree of
    # straight lines, plus each node's `neighbours` nearest nodes).
    links: list[tuple[str, str]] = []
    neighbours: Annotated[int, Field(ge=0, le=16)] = 2


class VdaIdentity(Section):
    """Who a robot is in VDA 5050: the ``manufacturer`` and ``serialNumber`` of its topics, and
    the protocol ``version`` it speaks if the config pins it (else learned from its headers)."""

    manufacturer: str = Field(pattern=r"^[^/+#$\x00][^/+#\x00]*$")
    serial: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")  # VDA 5050 section 6.3
    version: str | None = None  # e.g. "2.0.0": one of the lines docs/vda5050.md lists

    @field_validator("version")
    @classmethod
    def _spoken(cls, v: str | None) -> str | None:
        if v is not None and (not is_version(v) or dialect_for(v) is None):
            raise ValueError(f"must be a VDA 5050 version [major].[minor].[patch] of {SPOKEN}")
        return v


Transport = Literal["tcp", "mqtt", "vda5050"]


class RobotConfig(Section):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    kind: RobotKind
    # hex, >= 16 bytes; SecretStr keeps it out of reprs and logs. Optional for
    # mqtt/vda5050 robots (the broker login authenticates them): they get a random
    # one, so nobody can say hello over TCP in their name.
    key: SecretStr
    name: str = ""
    transport: Transport = "tcp"  # how the robot reaches the gateway; vda defaults it to vda5050
    vda: VdaIdentity | None = None  # a VDA 5050 AGV: {manufacturer = "...", serial = "..."}

    @model_validator(mode="before")
    @classmethod
    def _defaults_by_transport(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("vda") is not None and "transport" not in data:
            data["transport"] = "vda5050"
        if data.get("transport") in ("mqtt", "vda5050") and data.get("key") is None:
            data["key"] = secrets.token_hex(32)
        return data

    @model_validator(mode="after")
    def _vda_identity(self) -> RobotConfig:
        if self.transport == "vda5050":
            if self.vda is None:
                raise ValueError("a vda5050 robot needs vda = {manufacturer = ..., serial = ...}")
            if self.kind is not RobotKind.SERVING:
                raise ValueError("a vda5050 robot must be of kind serving")
        elif self.vda is not None:
            raise ValueError(f"vda is set but transport is {self.transport!r}")
        return self

    @field_validator("key")
    @classmethod
    def _key(cls, v: SecretStr) -> SecretStr:
        parse_key(v.get_secret_value())
        return v

    @property
    def key_bytes(self) -> bytes:
        return parse_key(self.key.get_secret_value())


Role = Literal["admin", "staff", "viewer"]
NameStr = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class DataSettings(Section):
    # AES-256 key (64 hex digits) that seals robot keys in SQL and in Redis.
    # Environment only (ROBODINE_DATA_KEY), never in a file in the repo.
    key: SecretStr | None = None
    previous_key: SecretStr | None = None  # during a rotation only (docs/orders.md)

    @field_validator("key", "previous_key")
    @classmethod
    def _key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            parse_data_key(v.get_secret_value())
        return v

    @property
    def key_bytes(self) -> bytes | None:
        return parse_data_key(self.key.get_secret_value()) if self.key is not None else None

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The current key, then the previous one while a rotation runs."""
        return tuple(
            parse_data_key(k.get_secret_value()) for k in (self.key, self.previous_key) if k
        )


class WebSettings(Section):
    host: str = "127.0.0.1"
    port: Port = 8080
    # Browser origins allowed for feeds and CORS. Not set: this server's own (host and
    # port, every name and address of the box for 0.0.0.0, https with TLS) and public_url's.
    origins: list[str] = []
    public_url: str = ""  # how browsers reach the dashboard when not at host:port (a proxy)
    tls_cert: Path | None = None  # PEM certificate chain: serve HTTPS (docs/operations.md)
    tls_key: Path | None = None  # its PEM private key
    metrics_host: str = "127.0.0.1"  # Prometheus /metrics of the web tier, without login
    metrics_port: Port = 9465  # 0 turns it off
    max_body_bytes: Positive = 1024 * 1024
    token_ttl_s: Seconds = 8 * 3600.0
    auth_cache_s: Annotated[float, Field(ge=0, le=60)] = 2.0  # user rows cached for token checks
    secret: SecretStr | None = None  # signs login tokens; required by `robodine web`
    # -- added for the web tier (docs/api.md lists each) --
    # `src` of what this process writes, and its consumer name in the projector group
    name: str = Field("web-1", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # SO_REUSEPORT on web.port: several `robodine web` processes of one box share the port
    # and the kernel spreads new connections over them (docs/scaling.md)
    reuse_port: bool = False
    shutdown_timeout_s: Seconds = 5.0  # open requests get this long before they are cancelled
    gzip_min_bytes: Annotated[int, Field(ge=0)] = 1024  # compress JSON bodies at least this big
    docs: bool = True  # serve /api/docs (the OpenAPI document is always served)
    password_min_length: Annotated[int, Field(ge=8, le=128)] = 10
    argon2_time_cost: Annotated[int, Field(ge=1, le=20)] = 3  # argon2-cffi defaults (RFC 9106)
    argon2_memory_kib: Annotated[int, Field(ge=8, le=4 * 1024 * 1024)] = 64 * 1024
    argon2_parallelism: Annotated[int, Field(ge=1, le=16)] = 4
    # failed logins a minute before 429: per client address and username, per username from
    # any address, per address for any username (docs/api.md section 2 says how they combine)
    login_attempts_per_min: Positive = 10
    login_attempts_per_user_per_min: Positive = 30
    login_attempts_per_address_per_min: Positive = 100
    ws_queue: Annotated[int, Field(ge=8, le=100_000)] = 1024  # frames buffered per client
    # open feeds (topic WebSockets, SSE streams, chat sockets) one process takes: per user
    # (then 429) and in all (then 503), refused before the upgrade
    max_feeds_per_user: Annotated[int, Field(ge=1, le=100_000)] = 50
    max_feeds: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    ws_send_timeout_s: Seconds = 10.0  # a send blocked this long means the client is gone
    # SO_SNDBUF of a feed's socket (the kernel doubles it); 0: the kernel's autotuning, which
    # lets megabytes of stale samples queue for a slow client before latest-wins can act
    feed_send_buffer_bytes: Annotated[int, Field(ge=0, le=16 * 1024 * 1024)] = 128 * 1024
    ws_heartbeat_s: Seconds = 20.0  # WebSocket ping interval; no pong closes the socket
    sse_ping_s: Seconds = 15.0  # SSE comment line that keeps proxies from timing out
    lag_timeout_s: Seconds = 30.0  # longest a client may stay behind before it is disconnected
    token_warning_s: Seconds = 60.0  # `auth_expiring` frame this long before a socket's token ends
    snapshot_events: Annotated[int, Field(ge=0, le=10_000)] = 100  # events in a /ws/events snapshot
    telemetry_scan: Annotated[int, Field(ge=1, le=1_000_000)] = 2000  # entries read for a snapshot
    scan_max: Annotated[int, Field(ge=100, le=1_000_000)] = 10_000  # entries one REST page may scan
    hub_block_ms: Annotated[int, Field(ge=10, le=4000)] = 1000  # XREAD BLOCK of the fan-out readers
    hub_batch: Annotated[int, Field(ge=1, le=10_000)] = 500  # XREAD COUNT of the fan-out readers
    todos_maxlen: Positive = 10_000  # rd:todos change feed cap (MAXLEN ~)
    integration_rate_per_min: Positive = 600  # requests an integration key may make (then 429)
    restaurant_maxlen: Positive = 10_000  # rd:restaurant change feed cap (MAXLEN ~)

    @field_validator("origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for o in v:
            if o == "*" or not o.startswith(("http://", "https://")) or o.endswith("/"):
                raise ValueError(f"{o!r}: an origin is scheme://host[:port], no wildcard, no path")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _own_origins(self) -> WebSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both or neither")
        if "origins" not in self.model_fields_set:  # frozen: set once, while validating
            derived = own_origins(
                self.host, self.port, tls=self.tls_cert is not None, public_url=self.public_url
            )
            object.__setattr__(self, "origins", derived)
        return self


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///var/robodine.sqlite3"
    # -- added for the web tier --
    migrate_on_start: bool = True  # `robodine web` upgrades the schema to head before serving
    pool_size: Annotated[int, Field(ge=1, le=100)] = 5  # ignored for SQLite
    max_overflow: Annotated[int, Field(ge=0, le=100)] = 5
    connect_timeout_s: Seconds = 5.0
    echo: bool = False  # log every SQL statement (debugging only)


class ChatRoom(Section):
    name: NameStr
    title: str = ""
    read_roles: list[Role] = ["admin", "staff", "viewer"]
    write_roles: list[Role] = ["admin", "staff"]


class ChatRelay(Section):
    """Post robot events that match into a room (once, however many web processes run)."""

    room: NameStr
    types: list[str] = []  # event types, `robot.*` prefixes allowed; empty: every type
    levels: list[Literal["info", "warning", "alarm"]] = ["warning", "alarm"]
    robots: list[str] = []  # empty: every robot


class ChatSettings(Section):
    rooms: list[ChatRoom] = [
        ChatRoom(name="kitchen", title="Kitchen"),
        ChatRoom(name="floor", title="Floor"),
        ChatRoom(name="managers", title="Managers", read_roles=["admin"], write_roles=["admin"]),
    ]
    history: Annotated[int, Field(ge=0, le=1000)] = 50  # messages sent on join
    maxlen: Positive = 10_000  # per-room stream cap (MAXLEN ~)
    max_chars: Annotated[int, Field(ge=1, le=100_000)] = 2000
    rate_per_s: Annotated[float, Field(gt=0)] = 1.0  # messages per user, sustained
    burst: Positive = 5
    max_strikes: Positive = 10  # rejected messages in a row before the socket is closed
    presence_ttl_s: Seconds = 30.0  # a crashed process's members vanish after this
    relay_username: str = "robodine"
    relay: list[ChatRelay] = [ChatRelay(room="floor")]

    @model_validator(mode="after")
    def _rooms(self) -> ChatSettings:
        names = [r.name for r in self.rooms]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate chat room {dupes[0]!r}")
        for rule in self.relay:
            if rule.room not in names:
                raise ValueError(f"relay names room {rule.room!r}, which is not in chat.rooms")
        return self


class MediaSettings(Section):
    """Where uploads, job outputs and recordings are kept (robodine/media)."""

    # A directory (relative to the working directory, or file:///abs/path), or
    # s3://bucket/prefix for S3-compatible object storage.
    url: str = "var/media"
    s3_endpoint: str = ""  # e.g. http://127.0.0.1:9000 (MinIO); empty: AWS by region
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None  # unset: botocore's chain (AWS_* env, instance role)
    s3_secret_key: SecretStr | None = None
    s3_part_bytes: Annotated[int, Field(ge=5 * 1024 * 1024, le=512 * 1024 * 1024)] = 8 * 1024 * 1024
    presign_s: Annotated[int, Field(ge=10, le=7 * 86400)] = 300  # life of a presigned GET URL
    timeout_s: Seconds = 30.0  # one request to the object store

    @field_validator("url")
    @classmethod
    def _media_url(cls, v: str) -> str:
        if v.startswith("s3://"):
            bucket = v[5:].split("/", 1)[0]
            if not bucket:
                raise ValueError("s3://bucket/prefix: the bucket is missing")
        elif "://" in v and not v.startswith("file://"):
            raise ValueError("a directory, file:///path or s3://bucket/prefix")
        return v


DEFAULT_UPLOAD_TYPES = [
    "image/png",
    "image/jpeg",
    "image/webp",
    "video/mp4",
    "video/webm",
    "application/pdf",
    "text/csv",
    "text/plain",
    "application/json",
    "application/x-ndjson",
    "application/gzip",
    "application/zip",
]


class UploadSettings(Section):
    max_bytes: Annotated[int, Field(ge=1024, le=64 * 1024**3)] = 512 * 1024 * 1024
    types: list[str] = DEFAULT_UPLOAD_TYPES  # Content-Type allowlist (the part's type)
    chunk_bytes: Annotated[int, Field(ge=16 * 1024, le=64 * 1024 * 1024)] = 1024 * 1024


class JobSettings(Section):
    """Background jobs (docs/jobs.md): the SAQ queue on the same Redis, `robodine worker`."""

    queue: str = Field("robodine", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    concurrency: Annotated[int, Field(ge=1, le=256)] = 4  # jobs at once per worker process
    heartbeat_s: Annotated[int, Field(ge=1, le=3600)] = 10  # silent longer: the worker is lost
    sweep_s: Annotated[int, Field(ge=1, le=3600)] = 5  # how often a worker looks for lost jobs
    retries: Annotated[int, Field(ge=1, le=100)] = 3  # attempts in all, including the first
    retry_delay_s: Annotated[float, Field(ge=0, le=3600)] = 2.0  # first retry; doubles after
    retry_max_delay_s: Annotated[float, Field(ge=0, le=86400)] = 300.0
    timeout_s: Annotated[int, Field(ge=1, le=86400)] = 600  # one attempt of a job
    keep_finished_s: Annotated[int, Field(ge=60, le=30 * 86400)] = 86400  # in Redis; SQL keeps all
    stream_retention_s: Annotated[int, Field(ge=3600, le=90 * 86400)] = 7 * 86400  # rd:jobs
    name: str = Field("worker-1", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # The analysis service: POST {analysis_url} with the media, Bearer analysis_token;
    # it answers 2xx and later calls {public_url}/api/webhooks/analysis/{job_id}.
    analysis_url: str = ""
    analysis_token: SecretStr | None = None
    analysis_timeout_s: Seconds = 30.0  # the submit request
    analysis_wait_s: Annotated[int, Field(ge=1, le=86400)] = 3600  # for the webhook
    # Signs the per-job webhook secrets (HMAC of the job id); >= 32 bytes.
    webhook_secret: SecretStr | None = None
    webhook_window_s: Annotated[int, Field(ge=10, le=3600)] = 300  # timestamp replay window
    public_url: str = "http://127.0.0.1:8080"  # how the analysis service reaches the web tier

    @field_validator("analysis_url", "public_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class RecorderSettings(Section):
    """`robodine recorder`: camera segments into the media store (docs/cameras.md)."""

    name: str = Field("recorder-1", pattern=r"^[A-Za-z0-9._-]{1,64}$")  # `src` of its events
    continuous: bool = False  # record every camera all the time (else on request and incidents)
    segment_s: Annotated[float, Field(ge=5, le=3600)] = 60.0  # one file per camera this long
    format: Literal["avi", "mp4"] = "avi"  # avi: MJPEG in AVI; mp4: H.264, needs PyAV
    spool_dir: Path = Path("var/recorder")  # open segments are written here first
    max_age_s: Annotated[float, Field(ge=60, le=3650 * 86400)] = 7 * 86400.0
    incident_max_age_s: Annotated[float, Field(ge=60, le=3650 * 86400)] = 30 * 86400.0
    max_bytes: Annotated[int, Field(ge=1024 * 1024, le=2**50)] = 10 * 1024**3  # all recordings
    retention_every_s: Annotated[float, Field(ge=1, le=86400)] = 60.0
    # An event at one of these levels naming a robot keeps its cameras' last
    # incident_before_s seconds and the next incident_after_s.
    incident_levels: list[Literal["info", "warning", "alarm"]] = ["alarm"]
    incident_before_s: Annotated[float, Field(ge=0, le=300)] = 10.0
    incident_after_s: Annotated[float, Field(ge=0, le=3600)] = 20.0
    preroll_max_bytes: Annotated[int, Field(ge=0, le=1024**3)] = 8 * 1024 * 1024  # per camera
    retry_s: Annotated[float, Field(ge=1, le=3600)] = 30.0  # a full store is tried again after


class WebhookSettings(Section):
    """Outbound webhooks to admin-registered endpoints (docs/jobs.md, Webhooks out)."""

    timeout_s: Seconds = 10.0  # one delivery attempt
    retries: Annotated[int, Field(ge=1, le=50)] = 8  # attempts per event and endpoint
    retry_delay_s: Annotated[float, Field(ge=0, le=3600)] = 5.0  # doubles per attempt, jittered
    retry_max_delay_s: Annotated[float, Field(ge=0, le=86400)] = 3600.0
    disable_after: Annotated[int, Field(ge=1, le=10_000)] = 20  # failed attempts in a row
    https_only: bool = False  # true: refuse http:// endpoints
    # Endpoints may not target the box itself: loopback, link-local, unspecified,
    # multicast and this machine's own addresses are refused unless listed here
    # (addresses or networks, e.g. "127.0.0.1" or "10.0.0.0/8").
    allow_addresses: list[str] = []
    deny_private: bool = False  # true: refuse RFC 1918 / ULA addresses too (a LAN POS needs them)

    @field_validator("allow_addresses")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for a in v:
            ipaddress.ip_network(a, strict=False)
        return v


class AlarmSettings(Section):
    """Alarms from rd:events (docs/api.md, Alarms). The first three an admin may also change
    while running (`PATCH /api/settings`); what an admin set wins over these."""

    escalate_after_s: Annotated[float, Field(ge=0, le=86400)] = 300.0  # unacked this long; 0: never
    escalate_room: str = Field("managers", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")  # a chat room
    battery_below: Annotated[float, Field(ge=0, le=100)] = 15.0  # % in a robot's snapshot
    check_every_s: Annotated[float, Field(ge=0.1, le=3600)] = 5.0  # escalation and battery checks
