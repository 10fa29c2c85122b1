"""Tests of the Kubernetes API emulator (controller.emulators.kube)."""
