"""An emulated Kubernetes API server for tests and the demo (kmock's emulator with real semantics).

The real operator runs against it unchanged: it serves API discovery, the project's CRDs (with
schema validation, pruning, defaults and CEL rules), a status subresource kept apart from spec
writes, resourceVersion/generation/uid bookkeeping, 409/422 refusals worded like the API server's,
finalizer-held deletion, resumable watch streams, namespaces, and the Events an operator posts.

Typical use::

    async with await start_kube_emulator(crd_paths=[Path("crds")]) as kube:
        ...  # point kopf at kube.url; read kube.get_object(...) and kube.events()

See ``_emulator`` for what is and is not emulated.
"""

from scaleset_testbed.kube._emulator import KubeEmulator, WriteFault
from scaleset_testbed.kube._models import load_crd_documents
from scaleset_testbed.kube._schema import SchemaError, StructuralSchema
from scaleset_testbed.kube._server import RunningKubeEmulator, start_kube_emulator, write_kubeconfig
from scaleset_testbed.kube._status import KubeApiError
from scaleset_testbed.kube._store import CommitListener

__all__ = [
    "CommitListener",
    "KubeApiError",
    "KubeEmulator",
    "RunningKubeEmulator",
    "SchemaError",
    "StructuralSchema",
    "WriteFault",
    "load_crd_documents",
    "start_kube_emulator",
    "write_kubeconfig",
]
