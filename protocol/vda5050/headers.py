"""Protocol headers (section 6.4): headerId per topic, ISO 8601 timestamps.

"The headerId is defined per topic and incremented by 1 with each sent (but
not necessarily received) message." So the counter is keyed by (AGV,
subtopic) and advances when a message is *built*, whether or not it arrives.
Time comes in as ``now`` (seconds since the epoch): no clock is read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from protocol.errors import LocalProtocolError
from protocol.vda5050.enums import VERSION, Subtopic
from protocol.vda5050.topics import AgvId

__all__ = ["UINT32_MAX", "Header", "HeaderCounter", "format_timestamp", "parse_timestamp"]

UINT32_MAX: Final = 2**32 - 1


def format_timestamp(now: float) -> str:
    """``now`` as "YYYY-MM-DDTHH:mm:ss.sssZ" (UTC, milliseconds).

    The standard's pattern shows two fraction digits; ISO 8601 and the
    schemas' ``date-time`` accept any number, and milliseconds are more useful.
    """
    if not 0 <= now < 253402300800:  # year 9999
        raise LocalProtocolError(f"timestamp {now!r} out of range")
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> float | None:
    """Seconds since the epoch, or None if ``value`` is not an ISO 8601 date-time.

    Lenient on purpose: the gateway stamps records with its own receive time
    and keeps the AGV's only as information, so a sloppy clock is not fatal.
    A time without a zone is read as UTC, as the standard's header says.
    """
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class Header:
    """The five header fields, ready to spread into a message constructor."""

    header_id: int
    timestamp: str
    manufacturer: str
    serial_number: str
    version: str = VERSION

    def fields(self) -> dict[str, Any]:
        return {
            "header_id": self.header_id,
            "timestamp": self.timestamp,
            "version": self.version,
            "manufacturer": self.manufacturer,
            "serial_number": self.serial_number,
        }


class HeaderCounter:
    """Hands out headers: headerId starts at 0 and rises by 1 per (AGV, subtopic).

    After uint32's maximum it wraps to 0, the only way to stay a uint32.
    One counter per sender: the gateway keeps one for what it publishes,
    a simulated AGV keeps its own.
    """

    def __init__(self, *, version: str = VERSION) -> None:
        self.version = version
        self._last: dict[tuple[AgvId, Subtopic], int] = {}

    def next_id(self, agv: AgvId, subtopic: Subtopic) -> int:
        key = (agv, subtopic)
        last = self._last.get(key)
        value = 0 if last is None or last >= UINT32_MAX else last + 1
        self._last[key] = value
        return value

    def peek(self, agv: AgvId, subtopic: Subtopic) -> int | None:
        """The last headerId handed out for (agv, subtopic), if any."""
        return self._last.get((agv, subtopic))

    def header(
        self, agv: AgvId, subtopic: Subtopic, now: float, *, version: str | None = None
    ) -> Header:
        """The next header; ``version`` (default: the counter's) is the one the AGV speaks."""
        return Header(
            header_id=self.next_id(agv, subtopic),
            timestamp=format_timestamp(now),
            manufacturer=agv.manufacturer,
            serial_number=agv.serial_number,
            version=version or self.version,
        )

    def forget(self, agv: AgvId) -> None:
        """Drop an AGV's counters (it left the registry); a new one starts at 0."""
        for key in [k for k in self._last if k[0] == agv]:
            del self._last[key]
