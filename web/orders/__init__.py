"""Orders: placing them (SQL + outbox), relaying them to the gateway, projecting progress back."""
