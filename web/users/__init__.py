"""User accounts and logging in: the service, the admin routes, login and token refresh."""
