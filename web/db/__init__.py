"""Relational data of the web tier (users, todos; menu and orders come with issue 5)."""
