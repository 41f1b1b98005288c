"""Uploads: files streamed into the media store, their metadata in SQL, served with ranges."""
