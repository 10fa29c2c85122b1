"""scaleset-image-operator: keep the OS image of Azure VM scale sets where a ScaleSetImage declares it.

Only what runs in the cluster lives here, in layers an import-linter contract enforces: ``cli`` and
``commands`` -> ``operator`` (kopf glue) -> ``azure`` | ``rollout`` | ``metrics`` -> ``observed`` | ``config``
-> ``resource``. The emulators and the demo are another distribution, ``scaleset-image-testbed``.
"""

__version__ = "0.1.0"
