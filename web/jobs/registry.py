"""Every job kind, registered by importing the modules that define them."""

from __future__ import annotations

from web.jobs import analysis, robot_logs, sales_report
from web.jobs.runtime import KINDS, Kind

__all__ = ["KINDS", "Kind", "analysis", "robot_logs", "sales_report"]
