"""scaleset-image-operator: keep the OS image of Azure VM scale sets where a ScaleSetImage declares it.

The operator proper lives in the top-level modules of this package. ``controller.emulators`` holds the
Azure Compute and Kubernetes API emulators used by tests and the demo; operator code never imports them
(an import-linter contract enforces it).
"""

__version__ = "0.1.0"
