"""Live feeds: the fan-out hub, subscriptions, frames, and the WebSocket and SSE views."""
