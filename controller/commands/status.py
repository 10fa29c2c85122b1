"""``scaleset-image status``: the rollout grid of ScaleSetImage resources, read through the Kubernetes API.

It reads only (list/get on scalesetimages), with the kubeconfig or in-cluster credentials, and draws the
same view as the demo; instance colours follow their domain's state, since ``.status`` is all it reads.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from controller.commands.grid import legend, render_resource
from controller.resource import GROUP, PLURAL, VERSION


def fetch(name: str | None, namespace: str | None, kubeconfig: str | None) -> list[dict[str, Any]]:
    """The resources to show: one by name, those of a namespace, or all."""
    from kubernetes import client, config

    api_client: Any
    try:
        api_client = (
            config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
            if kubeconfig or not _in_cluster()
            else None
        )
    except config.ConfigException:
        api_client = None
    if api_client is None:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        api_client = client.ApiClient()
    try:
        api: Any = client.CustomObjectsApi(api_client)
        if name:
            obj: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, namespace or "default", PLURAL, name)
            return [obj]
        if namespace:
            items: list[dict[str, Any]] = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        else:
            items = api.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
        return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    finally:
        api_client.close()


def _in_cluster() -> bool:
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def render(objects: list[dict[str, Any]], *, colour: bool) -> str:
    lines = [legend(colour), ""]
    if not objects:
        lines.append("no ScaleSetImage resources found")
    for obj in objects:
        meta = obj.get("metadata") or {}
        ref = (obj.get("spec") or {}).get("scaleSet") or {}
        lines.extend(
            render_resource(
                str(meta.get("namespace", "")),
                str(meta.get("name", "")),
                obj.get("status") or {},
                colour=colour,
                scale_set=str(ref.get("name", "")),
            )
        )
        for cond in (obj.get("status") or {}).get("conditions") or []:
            lines.append(f"    {cond.get('type')}={cond.get('status')} {cond.get('reason')}: {cond.get('message')}")
        lines.append("")
    return "\n".join(lines)


def show(
    name: str | None,
    namespace: str | None,
    *,
    watch: bool,
    kubeconfig: str | None,
    interval: float = 2.0,
    out: TextIO = sys.stdout,
) -> int:
    colour = out.isatty()
    while True:
        try:
            objects = fetch(name, namespace, kubeconfig)
        except Exception as exc:  # the API answered an error or could not be reached: say which
            print(f"scaleset-image status: {exc}", file=sys.stderr)
            return 1
        text = render(objects, colour=colour)
        out.write(("\x1b[H\x1b[2J" if watch and colour else "") + text + "\n")
        out.flush()
        if not watch:
            return 0
        time.sleep(interval)
