"""A whole batch of telemetry and snapshots in one Redis command, with one reply.

redis-py reads every reply of a pipeline on its own, under its own
``asyncio.timeout``: with one XADD per sample that cost more CPU than
decoding and verifying the datagrams (docs/performance.md). This
script XADDs the batch's samples (MAXLEN ~) and HSETs the robots' snapshots
server-side, so the client packs one command and reads one integer.

Each sample is encoded once, when it arrives, as a JSON array (msgspec, in
C), and a batch travels as one argument, the arrays back to back: hiredis
copies one string per batch instead of packing ten values per sample
(packing was a large share of the gateway at its UDP limit), and a robot's latest
sample is reused as is for its snapshot, which the script builds. The script
writes each entry as protocol.streams lays telemetry out: the robot id, and
the sample as one JSON object (``sample``) that it joins from the array's
parts, each number as msgspec wrote it (the shortest text that reads back as
the same float). The numbers are finite: the protocol bounds every one a
robot sends (protocol/messages.py) and the VDA 5050 master drops a sample it
cannot state finitely (gateway/vda5050/agv.py). A batch of telemetry
messages (``batch_samples``) has its numbers encoded in one call, each
sample's joined to a per-robot prefix: the same bytes as ``sample`` of each.
Robot ids and transport names cannot hold a quote or a backslash (the RobotId
pattern), so the script's patterns split exactly and they are JSON strings as
they are.

The script runs atomically: a batch of ``redis.batch_max`` samples holds
Redis for a few milliseconds, which is why the batch is capped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import msgspec

from protocol.messages import Telemetry
from robodine.redisio.keys import KEYS

SCRIPT: Final = r"""
-- KEYS[1] telemetry stream, KEYS[2] robots index set, KEYS[3..] robot snapshot hashes:
--   first one per field/value snapshot, then one per sample of ARGV[4]
-- ARGV[1] maxlen, ARGV[2] updated (for the snapshots of ARGV[4]),
-- ARGV[3] samples, each ["robot","transport",seq,ts,x,y,theta,battery,speed,rx]
-- ARGV[4] the latest sample of the robots of the last KEYS, same layout
-- ARGV[5] field/value snapshot count, then per snapshot: pair count * 2, pairs, robot id
local SAMPLE = '%["([^"]*)","([^"]*)",([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),' ..
               '([^,]*),([^%]]*)%]'
local stream, index, maxlen = KEYS[1], KEYS[2], ARGV[1]
local count = 0
for robot, transport, seq, ts, x, y, theta, battery, speed, rx in string.gmatch(ARGV[3], SAMPLE) do
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'robot', robot, 'sample',
             '{"robot":"' .. robot .. '","seq":' .. seq .. ',"ts":' .. ts .. ',"x":' .. x ..
             ',"y":' .. y .. ',"theta":' .. theta .. ',"battery":' .. battery ..
             ',"speed":' .. speed .. ',"transport":"' .. transport .. '","rx":' .. rx .. '}')
  count = count + 1
end
local k, i = 3, 6
for _ = 1, tonumber(ARGV[5]) do
  local n = tonumber(ARGV[i])
  redis.call('HSET', KEYS[k], unpack(ARGV, i + 1, i + n))
  redis.call('SADD', index, ARGV[i + n + 1])
  k, i = k + 1, i + n + 2
end
for robot, _, seq, ts, x, y, theta, battery, speed, rx in string.gmatch(ARGV[4], SAMPLE) do
  redis.call('HSET', KEYS[k], 'seq', seq, 'ts', ts, 'x', x, 'y', y, 'theta', theta,
             'battery', battery, 'speed', speed, 'seen', rx, 'id', robot, 'updated', ARGV[2])
  redis.call('SADD', index, robot)
  k = k + 1
end
return count
"""
SHA: Final = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()

# TelemetryRecord's fields, in the order of the entry's JSON object.
FIELDS: Final = ("robot", "seq", "ts", "x", "y", "theta", "battery", "speed", "transport", "rx")
# What a robot's latest sample sets in its snapshot (rx as ``seen``).
SNAPSHOT_FIELDS: Final = ("seq", "ts", "x", "y", "theta", "battery", "speed", "seen")
_encode = msgspec.json.Encoder().encode


def sample(
    robot: str,
    seq: int,
    ts: float,
    x: float,
    y: float,
    theta: float,
    battery: float,
    speed: float,
    transport: str,
    rx: float,
) -> bytes:
    """One sample as the script reads it."""
    return _encode((robot, transport, seq, ts, x, y, theta, battery, speed, rx))


_prefixes: dict[str, dict[str, bytes]] = {}  # transport -> robot -> b'["robot","transport",'
_MAX_PREFIXES: Final = 20_000


def batch_samples(
    msgs: Sequence[Telemetry], transport: str, rx: float, latest: dict[str, bytes]
) -> list[bytes]:
    """``sample`` of each message (all received at ``rx`` over ``transport``), the
    numbers of the batch in one encode; each robot's newest also goes into ``latest``."""
    if not msgs:
        return []
    numbers = _encode([(m.seq, m.ts, m.x, m.y, m.theta, m.battery, m.speed) for m in msgs])
    tail = b"," + _encode(rx) + b"]"
    prefixes = _prefixes.get(transport)
    if prefixes is None or len(prefixes) > _MAX_PREFIXES:
        prefixes = _prefixes[transport] = {}
    out = []
    for m, part in zip(msgs, numbers[2:-2].split(b"],["), strict=True):
        robot = m.robot
        prefix = prefixes.get(robot)
        if prefix is None:
            prefix = prefixes[robot] = b"[" + _encode(robot) + b"," + _encode(transport) + b","
        encoded = prefix + part + tail
        out.append(encoded)
        latest[robot] = encoded
    return out


def snapshot_fields(encoded: bytes) -> tuple[str, dict[str, Any]]:
    """The robot, and what the script writes into its snapshot for this sample (as text)."""
    robot, _, *numbers = encoded[1:-1].decode().split(",")
    return robot[1:-1], dict(zip(SNAPSHOT_FIELDS, numbers, strict=True))


def command(
    samples: Iterable[bytes],
    latest: Mapping[str, bytes],
    snapshots: Mapping[str, Mapping[str, Any]],
    maxlen: int,
    updated: float,
) -> tuple[Any, ...]:
    """The EVALSHA arguments for one batch of ``sample()`` results.

    ``latest``: robot -> its newest sample, for its snapshot;
    ``snapshots``: other snapshot fields (already carrying ``id`` and ``updated``).
    """
    keys: list[str] = [KEYS.telemetry, KEYS.robots]
    pairs: list[Any] = []
    for robot, fields in snapshots.items():
        keys.append(KEYS.robot(robot))
        pairs.append(2 * len(fields))
        for pair in fields.items():
            pairs += pair
        pairs.append(robot)
    keys += map(KEYS.robot, latest)
    return (
        "EVALSHA", SHA, len(keys), *keys,
        maxlen, updated, b"".join(samples), b"".join(latest.values()), len(snapshots), *pairs,
    )  # fmt: skip
