"""Integrations: API keys for other systems (a POS, a building system), their routes and CLI."""
