"""An emulated Kubernetes API server for tests and the demo (kmock's emulator with real semantics).

The real operator and the real kubectl run against it unchanged: it serves discovery (legacy and
aggregated), OpenAPI v2/v3, Table output with the CRD's printer columns, the project's CRDs (schema
validation, pruning, defaults, CEL rules), a status subresource kept apart from spec writes,
resourceVersion/generation/uid bookkeeping, dry runs, field validation, managedFields and server-side
apply, 409/422 refusals worded like the API server's, finalizer-held deletion, watch streams with
bookmarks, namespaces that must exist, and the Events an operator posts.

Typical use::

    async with await start_kube_emulator(crd_paths=[Path("crds")]) as kube:
        ...  # point kopf at kube.url; read kube.get_object(...) and kube.events()

docs/kube-emulator.md lists what is served and what differs from a real API server.
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
