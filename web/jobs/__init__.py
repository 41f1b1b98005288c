"""Background jobs: the SAQ queue on the same Redis, job kinds, progress on rd:jobs, the API."""
