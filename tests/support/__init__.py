"""Helpers shared by test modules (no test module imports another, nor a conftest)."""
