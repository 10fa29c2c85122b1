"""Conformance tests: the real Azure SDK against the Azure Compute emulator."""
