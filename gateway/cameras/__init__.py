"""Robot cameras at the gateway: chunks -> frames -> the camera streams in Redis."""
