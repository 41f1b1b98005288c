"""Robots as the web shows them: registry, snapshots, telemetry, commands, views by kind."""
