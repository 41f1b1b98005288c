"""Robots as the gateway knows them: state machines, sessions, the fleet that owns them."""
