"""`robodine recorder`: camera frames from Redis into segments in the media store."""
