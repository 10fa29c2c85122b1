"""``kubectl ssi``: the kubectl plugin for ScaleSetImage rollouts, in the manner of Argo Rollouts' plugin.

Installed with the package as the ``kubectl-ssi`` console script, so ``kubectl ssi ...`` finds it on PATH.
Every verb writes only ``spec.rollout`` (a JSON merge patch, field manager ``kubectl-ssi``), never ``.status``:

- ``status [NAME]``: the rollout grid (``-w`` redraws until Ctrl-C);
- ``pause NAME`` / ``resume NAME``: ``spec.rollout.paused`` true / false (the domain in progress finishes);
- ``abort NAME``: ``spec.rollout.abort: true``: the rollout stops once the Azure operation in flight ends,
  and ``onFailure`` decides what follows (Pause: stays Failed; Rollback: the previous image goes back);
  nothing new starts while it is set;
- ``retry NAME``: ``abort: false`` and a new ``spec.rollout.retryToken``: a failed rollout goes again with the
  same image, from its failed domain, or from the start after a rollback.
- ``approve NAME``: the one verb that writes no spec: the annotation ``imagerollout.dev/approve`` set to the
  token the waiting domain shows in ``status.approval``, so a GitOps tool that owns the spec never fights it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from controller.commands.cluster import REQUEST_TIMEOUT, Connection, KubeError, connect
from controller.commands.status import show
from controller.resource import APPROVE_ANNOTATION, GROUP, PLURAL, VERSION

PROG = "kubectl ssi"
FIELD_MANAGER = "kubectl-ssi"
EPILOG = """\
Each verb writes only spec.rollout (a JSON merge patch), never .status; approve writes an annotation:
  status [NAME]   the rollout grid; -w redraws until Ctrl-C
  pause NAME      spec.rollout.paused: true; the domain in progress finishes, no other starts
  resume NAME     spec.rollout.paused: false
  abort NAME      spec.rollout.abort: true; once the Azure operation in flight ends the rollout stops and
                  onFailure decides: Pause leaves it Failed (reason Aborted), Rollback puts the previous
                  image back; nothing new starts while abort is set
  retry NAME      abort: false and a new spec.rollout.retryToken; a failed rollout goes again with the same
                  image, from its failed domain, or from the start after a rollback
  approve NAME    the annotation imagerollout.dev/approve set to status.approval.token: the domain waiting
                  for approval (spec.rollout.approval) starts; no spec is written

Flags go before or after the verb: kubectl ssi pause web -n prod --context staging.
Exit codes: 0 done (or nothing to do), 1 the cluster could not be read or refused, 2 usage, 130 Ctrl-C.
"""


def _rollout(obj: dict[str, Any]) -> dict[str, Any]:
    return dict((obj.get("spec") or {}).get("rollout") or {})


def _in_flight(obj: dict[str, Any]) -> str | None:
    status = obj.get("status") or {}
    return status.get("currentDomain") or None


def _pause(obj: dict[str, Any], name: str) -> tuple[dict[str, Any] | None, str]:
    if _rollout(obj).get("paused"):
        return None, f"{name} is already paused"
    domain = _in_flight(obj)
    then = f"domain {domain} finishes, no other starts" if domain else "no new domain starts"
    return {"paused": True}, f"{name} paused: {then} (kubectl ssi resume {name} goes on)"


def _resume(obj: dict[str, Any], name: str) -> tuple[dict[str, Any] | None, str]:
    rollout = _rollout(obj)
    aborted = f"; it is also aborted: kubectl ssi retry {name} goes on" if rollout.get("abort") else ""
    if not rollout.get("paused"):
        return None, f"{name} is not paused{aborted}"
    return {"paused": False}, f"{name} resumed{aborted}"


def _abort(obj: dict[str, Any], name: str) -> tuple[dict[str, Any] | None, str]:
    rollout = _rollout(obj)
    if rollout.get("abort"):
        return None, f"{name} is already aborted (kubectl ssi retry {name} goes on)"
    phase = str((obj.get("status") or {}).get("phase") or "Pending")
    if phase in ("Succeeded", "Failed"):
        then = f"no rollout is under way ({phase}); none starts until kubectl ssi retry {name}"
    elif rollout.get("onFailure") == "Rollback":
        then = "once the Azure operation in flight ends, the previous image is put back (onFailure: Rollback)"
    else:
        then = (
            "once the Azure operation in flight ends, the rollout stops as Failed, reason Aborted "
            f"(onFailure: Pause); kubectl ssi retry {name} goes on from there"
        )
    return {"abort": True}, f"{name} aborted: {then}"


def _retry(obj: dict[str, Any], name: str) -> tuple[dict[str, Any] | None, str]:
    rollout = _rollout(obj)
    status = obj.get("status") or {}
    phase = status.get("phase")
    paused = f"; it is still paused: kubectl ssi resume {name}" if rollout.get("paused") else ""
    inconclusive = (status.get("analysis") or {}).get("phase") == "Inconclusive"
    if phase != "Failed" and not rollout.get("abort") and not inconclusive:
        return None, f"{name} is {phase or 'Pending'}: nothing to retry"
    token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rollback = status.get("rollback") or {}
    if inconclusive and phase != "Failed":
        what = f"the inconclusive analysis of domain {status['analysis'].get('domain')} runs again"
    elif phase != "Failed":
        what = "abort cleared"
    elif rollback:
        what = "rolling the same image out again from the start"
    else:
        what = "going on from the failed domain"
    return {"abort": False, "retryToken": token}, f"{name} retried: {what}{paused}"


def _approve(obj: dict[str, Any], name: str) -> tuple[dict[str, Any] | None, str]:
    approval = (obj.get("status") or {}).get("approval") or {}
    token, domain = approval.get("token"), approval.get("domain")
    if not token:
        return None, f"{name} waits for no approval"
    if approval.get("approvedAt"):
        return None, f"{name}: domain {domain} is already approved"
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if annotations.get(APPROVE_ANNOTATION) == token:
        return None, f"{name}: domain {domain} is approved; the operator takes it up at its next look"
    return {"metadata": {"annotations": {APPROVE_ANNOTATION: token}}}, f"{name} approved: domain {domain} starts"


VERBS = {"pause": _pause, "resume": _resume, "abort": _abort, "retry": _retry, "approve": _approve}
WHOLE_BODY = frozenset({"approve"})
"""Verbs whose patch is a whole object body (metadata), not ``spec.rollout`` fields."""


def act(conn: Connection, verb: str, name: str, namespace: str) -> str:
    """Read the resource, patch ``spec.rollout`` when there is something to change, and say what follows."""
    api = conn.api
    obj: dict[str, Any] = conn.call(
        lambda: api.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT
        ),
        name=name,
        namespace=namespace,
    )
    fields, message = VERBS[verb](obj, name)
    if fields is not None:
        body = fields if verb in WHOLE_BODY else {"spec": {"rollout": fields}}
        conn.call(
            lambda: api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                body,
                field_manager=FIELD_MANAGER,
                _request_timeout=REQUEST_TIMEOUT,
            ),
            name=name,
            namespace=namespace,
        )
    return f"scalesetimage.{GROUP}/{message}"


def _connection_flags(parser: argparse.ArgumentParser, default: object) -> argparse.ArgumentParser:
    parser.add_argument("--kubeconfig", default=default, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", default=default, help="kubeconfig context (default: the current one)")
    parser.add_argument("-n", "--namespace", default=default, help="namespace (default: the context's)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    # The connection flags go before or after the verb, as kubectl's own: `kubectl ssi pause web -n prod`. The
    # verbs' copies default to SUPPRESS so that a flag given before the verb is kept (each its own actions:
    # argparse shares actions with `parents`, and defaults with them).
    parser = argparse.ArgumentParser(
        prog=PROG, description="ScaleSetImage rollouts from kubectl, in the manner of Argo Rollouts' plugin.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
    )  # fmt: skip
    _connection_flags(parser, None)

    def common() -> argparse.ArgumentParser:
        return _connection_flags(argparse.ArgumentParser(add_help=False), argparse.SUPPRESS)

    sub = parser.add_subparsers(dest="verb", required=True, metavar="{status,pause,resume,abort,retry,approve}")
    status = sub.add_parser("status", parents=[common()], help="draw the rollout grid of one or all ScaleSetImages")
    status.add_argument("name", nargs="?", help="one ScaleSetImage (default: all in the namespace)")
    status.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    status.add_argument("-w", "--watch", action="store_true", help="redraw until Ctrl-C")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between redraws with --watch")
    helps = {
        "pause": "stop before the next domain (spec.rollout.paused: true)",
        "resume": "go on after a pause (spec.rollout.paused: false)",
        "abort": "stop now; onFailure decides: stay Failed, or put the previous image back (spec.rollout.abort)",
        "retry": "try a failed or aborted rollout again with the same image (abort: false, a new retryToken)",
        "approve": "let the domain waiting for approval start (annotation imagerollout.dev/approve)",
    }
    for verb, text in helps.items():
        sub.add_parser(verb, parents=[common()], help=text, description=text).add_argument(
            "name", help="the ScaleSetImage"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verb == "status":
        if args.all_namespaces and args.namespace:
            print(f"{PROG} status: give -n NAMESPACE or -A, not both", file=sys.stderr)
            return 2
        return show(
            args.name, args.namespace, watch=args.watch, kubeconfig=args.kubeconfig, context=args.context,
            all_namespaces=args.all_namespaces, interval=args.interval, program=f"{PROG} status",
        )  # fmt: skip
    try:
        conn = connect(args.kubeconfig, args.context)
    except KubeError as exc:
        print(f"{PROG} {args.verb}: {exc}", file=sys.stderr)
        return 1
    try:
        print(act(conn, args.verb, args.name, args.namespace or conn.namespace))
    except KubeError as exc:
        print(f"{PROG} {args.verb}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0
