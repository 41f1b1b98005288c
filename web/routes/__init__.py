"""REST route modules; each has a ``routes`` table (web.api.Routes)."""
