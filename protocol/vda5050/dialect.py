"""One version line of VDA 5050 on the wire, as a pair of document transforms.

The gateway, the simulator and every builder work with one set of models, the
2.1 ones (``messages``, ``state``, ``factsheet``). A ``Dialect`` says how
another version's JSON differs from them: ``inbound`` turns a decoded document
of that version into a 2.1 document (renames, and the rules the 2.1 models do
not enforce, e.g. 2.0's integer ``batteryHealth``), ``outbound`` turns a 2.1
document into that version's (drops or maps down 2.1-only fields, refuses what
cannot be said). Both work on plain JSON values, so a version is a small module
of differences (``v2_0``, ``v1_1``), not a copy of the models. 2.1 itself has no
transforms and decodes straight into the models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.mqtt_topics import Delivery
from protocol.vda5050.enums import Subtopic

__all__ = ["ARRAY", "DELIVERY_2X", "Dialect", "Document", "Transform", "check_integer", "path_of"]

Document = dict[str, Any]
Transform = Callable[[Document], Document]
ARRAY: Final = (list, tuple)  # a JSON array: list decoded, tuple from msgspec.to_builtins

# QoS and retain of 2.x (sections 6.2, 6.14, 6.15); 1.1 differs.
DELIVERY_2X: Final[Mapping[Subtopic, Delivery]] = {
    Subtopic.ORDER: Delivery(0),
    Subtopic.INSTANT_ACTIONS: Delivery(0),
    Subtopic.STATE: Delivery(0),
    Subtopic.VISUALIZATION: Delivery(0),
    Subtopic.CONNECTION: Delivery(1, retain=True),
    Subtopic.FACTSHEET: Delivery(0, retain=True),
}


@dataclass(frozen=True, slots=True)
class Dialect:
    line: str  # "2.0": every 2.0.x is spoken the same (a patch only clarifies)
    version: str  # what we write when nobody said more: "2.0.0"
    major: str  # the topic level, "v2" (section 6.3)
    delivery: Mapping[Subtopic, Delivery] = field(default_factory=lambda: DELIVERY_2X)
    inbound: Mapping[Subtopic, Transform] = field(default_factory=dict)
    outbound: Mapping[Subtopic, Transform] = field(default_factory=dict)

    @property
    def subtopics(self) -> frozenset[Subtopic]:
        return frozenset(self.delivery)

    @property
    def native(self) -> bool:
        """No transform either way: documents are the models' own."""
        return not self.inbound and not self.outbound

    def speaks(self, version: str) -> bool:
        return version.split(".")[:2] == self.line.split(".")

    def check_subtopic(self, subtopic: Subtopic) -> None:
        if subtopic not in self.delivery:
            raise RemoteProtocolError(f"VDA 5050 {self.line} has no {subtopic.value} topic")

    def to_model(self, subtopic: Subtopic, doc: Document) -> Document:
        transform = self.inbound.get(subtopic)
        return doc if transform is None else transform(doc)

    def to_wire(self, subtopic: Subtopic, doc: Document) -> Document:
        if subtopic not in self.delivery:
            raise LocalProtocolError(f"VDA 5050 {self.line} has no {subtopic.value} topic")
        transform = self.outbound.get(subtopic)
        return doc if transform is None else transform(doc)


def path_of(*keys: str | int) -> str:
    """A JSON path as msgspec writes it in its errors: ``$.batteryState.reach``."""
    out = "$"
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else f".{key}"
    return out


def check_integer(doc: Any, line: str, *keys: str | int) -> None:
    """An optional number that ``line`` defines as an integer (raises BAD_MESSAGE)."""
    value: Any = doc
    for key in keys:
        if isinstance(value, dict) and isinstance(key, str):
            value = value.get(key)
        elif isinstance(value, ARRAY) and isinstance(key, int) and key < len(value):
            value = value[key]
        else:
            return
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise RemoteProtocolError(
            f"Expected `int` (VDA 5050 {line}), got `{type(value).__name__}` - at "
            f"`{path_of(*keys)}`"
        )
