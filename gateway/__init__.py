"""The Robodine gateway daemon."""
