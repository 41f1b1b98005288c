"""Streaming views: topic WebSockets, SSE, chat sockets."""
