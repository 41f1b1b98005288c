"""`robodine status` and `GET /api/status`: one document that says whether the whole
system is healthy (web/status/document.py), made by web/status/probe.py from the
sections of web/status/sections.py and any a part of the system adds."""

from web.status import sections as _sections  # noqa: F401 - registers the default sections
from web.status.document import SECTIONS, Section, StatusOut, section
from web.status.probe import Probe, collect, probing

__all__ = ["SECTIONS", "Probe", "Section", "StatusOut", "collect", "probing", "section"]
