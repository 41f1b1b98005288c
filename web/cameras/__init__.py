"""Robot cameras in the web tier: the camera list, live views and snapshots, recordings."""
