"""Settings shared by the gateway, web tier, simulator and CLI."""

from config.loader import CONFIG_ENV, ConfigError, Settings, load_settings

__all__ = ["CONFIG_ENV", "ConfigError", "Settings", "load_settings"]
