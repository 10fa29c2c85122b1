"""Tests of the Kubernetes API emulator (scaleset_testbed.kube)."""
