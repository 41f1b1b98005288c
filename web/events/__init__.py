"""rd:events over REST and as a live topic."""
