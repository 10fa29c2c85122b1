"""``scaleset-image status``: the rollout grid of ScaleSetImage resources, read through the Kubernetes API.

It reads only (list/get on scalesetimages), with the kubeconfig or in-cluster credentials, and draws the
same view as the demo; instance colours follow their domain's state, since ``.status`` is all it reads.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from controller.commands.cluster import REQUEST_TIMEOUT, Connection, KubeError, connect
from controller.commands.fleets import fetch_fleets, render_fleets
from controller.commands.grid import legend, render_resource
from controller.resource import GROUP, PLURAL, VERSION


def fetch(conn: Connection, name: str | None, namespace: str | None) -> list[dict[str, Any]]:
    """The resources to show: one by name, those of a namespace, or (``namespace`` None) all."""
    api = conn.api
    if name:
        where = namespace or conn.namespace
        obj: dict[str, Any] = conn.call(
            lambda: api.get_namespaced_custom_object(
                GROUP, VERSION, where, PLURAL, name, _request_timeout=REQUEST_TIMEOUT
            ),
            name=name,
            namespace=where,
        )
        return [obj]
    return conn.list_objects(GROUP, VERSION, PLURAL, namespace)


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
    context: str | None = None,
    all_namespaces: bool | None = None,
    interval: float = 2.0,
    out: TextIO = sys.stdout,
    program: str = "scaleset-image status",
) -> int:
    """Draw the grid once, or every ``interval`` seconds with ``watch`` (until Ctrl-C, which the caller handles).

    ``namespace`` None: the context's namespace, or every namespace with ``all_namespaces`` (by default: when
    no ``name`` is given either). Exit code 1 with a message that says what to do when the cluster cannot be
    read.
    """
    colour = out.isatty()
    try:
        conn = connect(kubeconfig, context)
    except KubeError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return 1
    if all_namespaces is None:
        all_namespaces = name is None and namespace is None
    where = None if all_namespaces and name is None else namespace or conn.namespace
    try:
        while True:
            try:
                objects = fetch(conn, name, where)
            except KubeError as exc:
                print(f"{program}: {exc}", file=sys.stderr)
                return 1
            text = render(objects, colour=colour)
            if name is None:
                text = "\n".join([*render_fleets(fetch_fleets(conn, where)), text])
            out.write(("\x1b[H\x1b[2J" if watch and colour else "") + text + "\n")
            out.flush()
            if not watch:
                return 0
            time.sleep(interval)
    finally:
        conn.close()
