"""Loopback emulators of the external systems the operator talks to (test and demo infrastructure)."""
