"""In-process stand-ins for outside platforms, for tests."""
