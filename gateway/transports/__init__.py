"""Thin I/O adapters: sockets in, protocol codecs, fleet calls out."""
