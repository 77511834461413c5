"""Processes and fakes on loopback, shared by the tests and the bench (not part of the app's wheel)."""
