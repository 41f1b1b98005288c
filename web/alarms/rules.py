"""Which events raise an alarm, which clear one (pure: an event in, effects out).

docs/api.md (Alarms) has this table for people. A ``Raise`` names the
condition by its key, so the same condition raised again is the same alarm
(counted), and a ``Clear`` ends it by that key: a robot back online clears its
``connection:`` alarm, a robot out of ``error`` its fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from protocol.streams import EventRecord, EventType

CRITICAL, MAJOR, MINOR = "critical", "major", "minor"
RANK: Final = {CRITICAL: 3, MAJOR: 2, MINOR: 1}
# Minor alarms are not latched: once their condition clears they need no acknowledgement.
LATCHED: Final = frozenset({CRITICAL, MAJOR})

ESTOP, FAULT, VDA_FATAL = "estop", "fault", "vda_fatal"
OFFLINE, STALE, BATTERY_LOW = "offline", "stale", "battery_low"
DELIVERY_FAILED, SYSTEM = "delivery_failed", "system"
SEVERITY: Final = {
    ESTOP: CRITICAL,
    VDA_FATAL: CRITICAL,
    FAULT: MAJOR,
    OFFLINE: MAJOR,
    DELIVERY_FAILED: MAJOR,
    SYSTEM: MAJOR,
    STALE: MINOR,
    BATTERY_LOW: MINOR,
}
# For the people an escalation is posted to: (Korean, English).
LABELS: Final = {
    ESTOP: ("비상 정지", "e-stop"),
    FAULT: ("로봇 오류", "robot fault"),
    VDA_FATAL: ("AGV 치명적 오류", "AGV fatal error"),
    OFFLINE: ("연결 끊김", "offline"),
    STALE: ("응답 지연", "not responding"),
    BATTERY_LOW: ("배터리 부족", "low battery"),
    DELIVERY_FAILED: ("서빙 실패", "delivery failed"),
    SYSTEM: ("시스템 경보", "system alarm"),
}
# Our own audit events: never alarms themselves.
OWN_TYPES: Final = frozenset({"alarm.raised", "alarm.cleared", "alarm.acked", "alarm.escalated"})


@dataclass(frozen=True)
class Raise:
    key: str
    kind: str
    robot: str = ""
    order: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]


@dataclass(frozen=True)
class Clear:
    key: str
    reason: str


Effect = Raise | Clear


def _robot_keys(robot: str) -> tuple[str, str, str]:
    return f"estop:{robot}", f"fault:{robot}", f"vda_fatal:{robot}"


def effects(rec: EventRecord) -> list[Effect]:
    """What ``rec`` does to the alarms; [] for most events."""
    if rec.type in OWN_TYPES:
        return []
    d, robot = rec.data, rec.robot
    if rec.type == EventType.ROBOT_STATE and robot:
        state = str(d.get("state") or "")
        detail = {
            "state": state,
            "previous": d.get("previous"),
            "task": d.get("task") or "",
            "reason": d.get("reason") or "",
        }
        estop, fault, fatal = _robot_keys(robot)
        if state == "estop":
            return [Raise(estop, ESTOP, robot, detail=detail)]
        if state == "error" and d.get("reason") == "fatal_error":  # a VDA 5050 FATAL error
            return [Raise(fatal, VDA_FATAL, robot, detail=detail)]
        if state == "error":
            return [Raise(fault, FAULT, robot, detail=detail)]
        out: list[Effect] = [
            Clear(estop, f"robot {state}"),
            Clear(fault, f"robot {state}"),
            Clear(fatal, f"robot {state}"),
        ]
        if state == "charging":
            out.append(Clear(f"battery:{robot}", "charging"))
        return out
    if rec.type == EventType.ROBOT_CONNECTION and robot:
        state = str(d.get("state") or "")
        key = f"connection:{robot}"
        detail = {"state": state, "previous": d.get("previous"), "reason": d.get("reason") or ""}
        if state == "offline":
            return [Raise(key, OFFLINE, robot, detail=detail)]
        if state == "stale":
            return [Raise(key, STALE, robot, detail=detail)]
        if state == "online":
            return [Clear(key, "online")]
        return []
    if rec.type == EventType.ROBOT_EVENT and robot:
        name = str(d.get("name") or "")
        raw = d.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if name == "battery_low":
            return [Raise(f"battery:{robot}", BATTERY_LOW, robot, detail={"name": name, **data})]
        if name == "agv_error" and str(data.get("error_level", "")).upper() == "FATAL":
            return [
                Raise(
                    f"vda_fatal:{robot}",
                    VDA_FATAL,
                    robot,
                    detail={
                        "error_type": data.get("error_type", ""),
                        "description": data.get("description", ""),
                    },
                )
            ]
        order = data.get("order")
        if rec.level == "alarm" and isinstance(order, str) and order:
            return [
                Raise(
                    f"delivery:{order}",
                    DELIVERY_FAILED,
                    robot,
                    order,
                    detail={"name": name, "error_type": data.get("error_type", "")},
                )
            ]
    if rec.type == EventType.TASK_RELEASED and d.get("kind") == "deliver":
        order = str(d.get("order") or "")
        if order:
            return [
                Raise(
                    f"delivery:{order}",
                    DELIVERY_FAILED,
                    robot,
                    order,
                    detail={"task": d.get("task", ""), "reason": d.get("reason", "")},
                )
            ]
    if rec.type == EventType.COMMAND_FAILED:
        order = d.get("order")
        if isinstance(order, str) and order:
            return [
                Raise(
                    f"delivery:{order}",
                    DELIVERY_FAILED,
                    robot,
                    order,
                    detail={"reason": d.get("reason", ""), "detail": d.get("detail", "")},
                )
            ]
    if rec.type == EventType.ORDER_STATUS and d.get("status") in ("delivered", "cancelled"):
        order = str(d.get("order") or "")
        if order:
            return [Clear(f"delivery:{order}", str(d["status"]))]
    if rec.level == "alarm":  # anything else the gateway calls an alarm
        name = str(d.get("name") or d.get("change") or "")
        return [
            Raise(
                f"system:{rec.type}:{robot}:{name}",
                SYSTEM,
                robot,
                detail={"type": rec.type, **{k: v for k, v in d.items() if k != "data"}},
            )
        ]
    return []


def battery_effect(robot: str, battery: float, below: float) -> Effect | None:
    """From a robot's snapshot: low under ``below``, back to normal 5 points above it."""
    key = f"battery:{robot}"
    if battery < below:
        return Raise(key, BATTERY_LOW, robot, detail={"battery": round(battery, 1)})
    if battery >= below + 5:
        return Clear(key, f"battery {round(battery)}%")
    return None
