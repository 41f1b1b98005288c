"""Settings an admin may change while the box runs (GET/PATCH /api/settings)."""
