"""A whole batch of telemetry and snapshots in one Redis command, with one reply.

redis-py reads every reply of a pipeline on its own, under its own
``asyncio.timeout``: with one XADD per sample that cost more CPU than
decoding and verifying the datagrams (profile in bench/RESULTS.md). This
script XADDs the batch's samples (MAXLEN ~) and HSETs the robots' snapshots
server-side, so the client packs one command and reads one integer.

The script runs atomically: a batch of ``redis.batch_max`` samples holds
Redis for a few milliseconds, which is why the batch is capped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Final

from protocol import streams

SCRIPT: Final = """
-- KEYS[1] telemetry stream, KEYS[2] robots index set, KEYS[3..] robot snapshot hashes
-- ARGV: maxlen, fields per sample (n), sample count, the n field names (once),
--       the samples' values (n each),
--       then per snapshot: pair count * 2, its field/value pairs, the robot id
local maxlen, width, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local entry = {}
for f = 1, width do entry[2 * f - 1] = ARGV[3 + f] end
local i = 4 + width
for _ = 1, count do
  for f = 1, width do entry[2 * f] = ARGV[i + f - 1] end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(entry))
  i = i + width
end
for k = 3, #KEYS do
  local n = tonumber(ARGV[i])
  redis.call('HSET', KEYS[k], unpack(ARGV, i + 1, i + n))
  redis.call('SADD', KEYS[2], ARGV[i + n + 1])
  i = i + n + 2
end
return count
"""
SHA: Final = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()

# TelemetryRecord fields, in the order StreamWriter.telemetry() stores them.
FIELDS: Final = ("robot", "seq", "ts", "x", "y", "theta", "battery", "speed", "transport", "rx")


def command(
    samples: Iterable[tuple[Any, ...]],
    snapshots: Mapping[str, Mapping[str, Any]],
    maxlen: int,
) -> tuple[Any, ...]:
    """The EVALSHA arguments for one batch (snapshots already carry ``id`` and ``updated``)."""
    keys: list[str] = [streams.TELEMETRY, streams.ROBOTS_INDEX]
    # Field names go once per batch, not once per sample: half the arguments to pack.
    args: list[Any] = list(FIELDS)
    count = 0
    for sample in samples:
        args += sample
        count += 1
    for robot, fields in snapshots.items():
        keys.append(streams.robot_key(robot))
        args.append(2 * len(fields))
        for pair in fields.items():
            args += pair
        args.append(robot)
    return ("EVALSHA", SHA, len(keys), *keys, maxlen, len(FIELDS), count, *args)
