"""Webhooks: outbound (admin-registered endpoints, signed, retried) and inbound (analysis)."""
