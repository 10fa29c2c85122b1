"""scaleset-image-testbed: the test and demo infrastructure of scaleset-image-operator, as its own distribution.

- ``scaleset_testbed.azure``: a loopback emulator of the ARM / Microsoft.Compute API that scale-set image
  rollouts use (the real Azure SDKs talk to it unchanged);
- ``scaleset_testbed.kube``: a Kubernetes API server emulator on kmock with the semantics kopf and kubectl
  rely on;
- ``scaleset_testbed.demo``: the operator on both emulators, watchable (needs the operator installed);
- ``scaleset_testbed.worlds``: the constants and scenario builders tests and benchmarks share.

None of this ships in the operator's wheel or container image: ``pip install scaleset-image-testbed`` brings
the emulators into a platform team's own CI without the operator.
"""

__version__ = "0.1.0"
