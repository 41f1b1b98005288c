"""The HTTP edge: the API route wrapper, OpenAPI, problem+json, the access log."""
