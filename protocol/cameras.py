"""Robot cameras: what a robot announces, and the limits every camera id and frame obeys.

A robot names its cameras in a ``camera`` message (docs/protocol.md §11): their
ids, resolution and frame rate. Frames then travel as signed chunks
(protocol/camera_chunks.py) over UDP or the robot's TCP link; a chunk naming a
camera the robot did not announce is dropped by the gateway.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "CAMERA_ID_PATTERN",
    "MAX_CAMERAS",
    "CameraIdStr",
    "CameraInfo",
    "camera_key",
    "is_camera_id",
    "is_jpeg",
    "split_camera_key",
]

CAMERA_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,31}$"
MAX_CAMERAS: Final = 8  # per robot
CameraIdStr = Annotated[str, Meta(pattern=CAMERA_ID_PATTERN)]
_camera_id = re.compile(CAMERA_ID_PATTERN)
_ROBOT_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CameraInfo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """One camera as its robot announces it."""

    id: CameraIdStr
    width: Annotated[int, Meta(ge=1, le=8192)]
    height: Annotated[int, Meta(ge=1, le=8192)]
    fps: Annotated[float, Meta(gt=0, le=60)]
    format: Literal["jpeg"] = "jpeg"


def is_camera_id(value: str) -> bool:
    return _camera_id.match(value) is not None


def camera_key(robot: str, camera: str) -> str:
    """One camera's fleet-wide id, ``robot:camera`` (neither id can hold a colon)."""
    return f"{robot}:{camera}"


def split_camera_key(key: str) -> tuple[str, str] | None:
    """``robot:camera`` back into its ids, or None when it is not one."""
    robot, sep, camera = key.partition(":")
    if not sep or _ROBOT_ID.match(robot) is None or _camera_id.match(camera) is None:
        return None
    return robot, camera


def is_jpeg(data: bytes) -> bool:
    """Starts with SOI and ends with EOI: a frame cut short or padded is not one."""
    return len(data) >= 4 and data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
