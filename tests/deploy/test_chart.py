"""The Helm chart, rendered with Helm's own Go SDK (helm-python-sdk), offline.

Covers: `helm lint --strict` for Kubernetes 1.32; rendering with default and non-default values; every
rendered object valid for Kubernetes 1.32; least-privilege RBAC for all-namespace and per-namespace modes;
the restricted pod policy; arguments, ports, probe and configuration agreeing with each other and with the
operator's own CLI and config parser; replicas, update strategy and Lease-based leader election agreeing
(two electing replicas by default, one standalone replica without election, the Role for the Lease, the
PodDisruptionBudget, the render failing on values that would let two operators reconcile); the CRD identical
to crds/; workload identity, service principal and monitoring switches; values.schema.json refusing bad
values (in Helm and in jsonschema).
"""

from __future__ import annotations

import json
from typing import Any

import helm_python
import jsonschema
import pytest
import yaml
from helm_python import HelmRenderError, HelmValuesError
from prometheus_client.metrics_core import Metric

from controller.config import BudgetConfig
from controller.fleet.metrics import FleetMetrics
from controller.metrics import OperatorMetrics

from .conftest import NAMESPACE, Render
from .support import (
    CHART,
    CRD_FILE,
    FLEET_CRD_FILE,
    KUBERNETES_VERSION,
    check_rule_groups,
    container_of,
    election_violations,
    lease_of,
    metric_names_in,
    mounted_config,
    only,
    pod_violations,
    rbac_violations,
    run_args,
    validate_object,
    wiring_violations,
)

CLIENT_ID = "5f8c7f7e-2f6a-4c3e-9d59-6c1b2a7e0b11"
STACK = {
    "armEndpoint": "https://management.west.azurestack.contoso.com",
    "credentialScope": "https://management.adfs.azurestack.contoso.com/.default",
    "apiVersion": "2020-06-01",
}
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "aks-namespaced-monitored": {
        "image": {
            "repository": "myregistry.azurecr.io/platform/scaleset-image-operator",
            "tag": "0.1.0-rc.1",
            "digest": "sha256:" + "ab" * 32,
        },
        "watchNamespaces": ["team-a", "team-b"],
        "azure": {"workloadIdentity": {"clientId": CLIENT_ID}},
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True, "namespace": "monitoring", "annotations": {"grafana_folder": "Platform"}},
        "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"memory": "512Mi"}},
        "nodeSelector": {"agentpool": "system"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}
                    ]
                }
            }
        },
        "priorityClassName": "system-cluster-critical",
        "podLabels": {"team": "platform"},
        "verbose": True,
    },
    "azure-stack-hub": {
        "fullnameOverride": "ssi",
        "serviceAccount": {"name": "ssi-operator", "annotations": {"example.com/owner": "platform"}},
        "config": {
            "defaultCloud": "stack-west",
            "clouds": {"azure-public": None, "stack-west": STACK},
            "pollInterval": 20,
        },
        "azure": {
            "servicePrincipal": {"existingSecret": "scaleset-image-azure-credentials"},
            "authorityHost": "https://adfs.west.azurestack.contoso.com/",
        },
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy.contoso.com:3128"}],
        "metrics": {"port": 9100},
        "livenessPort": 8081,
    },
    # kopf standalone, as before leader election: one pod, Recreate.
    "standalone": {"replicas": 1, "leaderElection": {"enabled": False}},
    # Three replicas, own Lease name and timings, the release namespace also watched (its Role and the
    # Lease's Role must not collide), and an anti-affinity of the user's own that replaces the chart's.
    "three-replicas-own-lease": {
        "replicas": 3,
        "leaderElection": {"leaseName": "ssi-leader", "leaseDuration": 30, "renewDeadline": 20, "retryPeriod": 5},
        "watchNamespaces": [NAMESPACE, "team-a"],
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "operator"}},
                    }
                ]
            }
        },
    },
}


def watched_namespaces(objects: list[dict[str, Any]]) -> list[str] | None:
    args = run_args(only(objects, "Deployment"))
    return None if args.all_namespaces else list(args.namespace)


@pytest.mark.parametrize(
    "values",
    [{}, SCENARIOS["aks-namespaced-monitored"], SCENARIOS["standalone"]],
    ids=["defaults", "non-default", "standalone"],
)
def test_helm_lint_strict_is_clean(values: dict[str, Any]) -> None:
    report = helm_python.lint(CHART, values, strict=True, kube_version=f"v{KUBERNETES_VERSION}.0")
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # Severity 1 is informational ("icon is recommended"); warnings and errors fail.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rendered_object_is_valid(render: Render, scenario: str) -> None:
    objects = render(SCENARIOS[scenario])
    assert {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Service"} <= {
        o["kind"] for o in objects
    }
    for obj in objects:
        validate_object(obj)
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys)), f"two objects of one name: {sorted(keys)}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rbac_is_least_privilege_for_what_the_operator_watches(render: Render, scenario: str) -> None:
    objects = render(SCENARIOS[scenario])
    watched = watched_namespaces(objects)
    lease = lease_of(only(objects, "Deployment"))
    assert rbac_violations(objects, only(objects, "ServiceAccount"), watched, lease) == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replicas_strategy_and_leader_election_agree(render: Render, scenario: str) -> None:
    assert election_violations(render(SCENARIOS[scenario])) == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pod_meets_the_restricted_policy(render: Render, scenario: str) -> None:
    assert pod_violations(only(render(SCENARIOS[scenario]), "Deployment")) == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_arguments_ports_probe_and_config_agree(render: Render, scenario: str) -> None:
    assert wiring_violations(render(SCENARIOS[scenario])) == []


def _roles(objects: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted(
        (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])
        for o in objects
        if o["kind"] in ("Role", "RoleBinding")
    )


def test_namespaced_mode_has_roles_only_in_the_watched_namespaces(render: Render) -> None:
    objects = render(SCENARIOS["aks-namespaced-monitored"])
    assert watched_namespaces(objects) == ["team-a", "team-b"]
    election = "scaleset-image-operator-leader-election"
    assert _roles(objects) == [
        ("Role", NAMESPACE, election),
        ("Role", "team-a", "scaleset-image-operator"),
        ("Role", "team-b", "scaleset-image-operator"),
        ("RoleBinding", NAMESPACE, election),
        ("RoleBinding", "team-a", "scaleset-image-operator"),
        ("RoleBinding", "team-b", "scaleset-image-operator"),
    ]
    assert watched_namespaces(render({})) is None
    assert _roles(render({})) == [("Role", NAMESPACE, election), ("RoleBinding", NAMESPACE, election)]
    assert _roles(render(SCENARIOS["standalone"])) == []


def test_defaults_run_two_replicas_electing_a_leader(render: Render) -> None:
    objects = render({})
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    args = container_of(deployment)["args"]
    assert args[args.index("--leader-election") :] == [
        "--leader-election",
        "--lease-name=scaleset-image-operator",
        f"--lease-namespace={NAMESPACE}",
        "--lease-duration=15",
        "--renew-deadline=10",
        "--retry-period=2",
    ]
    assert lease_of(deployment) == (NAMESPACE, "scaleset-image-operator")
    env = {e["name"]: e["valueFrom"] for e in container_of(deployment)["env"]}
    assert env == {
        "POD_NAME": {"fieldRef": {"fieldPath": "metadata.name"}},
        "POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }
    role = next(o for o in objects if o["kind"] == "Role")
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["scaleset-image-operator"],
            "verbs": ["get", "update"],
        },
    ]
    budget = only(objects, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    (term,) = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"] == deployment["spec"]["selector"]


def test_without_leader_election_one_standalone_pod_as_before(render: Render) -> None:
    objects = render(SCENARIOS["standalone"])
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert not [
        a for a in container_of(deployment)["args"] if a.startswith(("--lease", "--leader", "--renew", "--retry"))
    ]
    assert lease_of(deployment) is None
    assert "env" not in container_of(deployment)
    assert "affinity" not in deployment["spec"]["template"]["spec"]
    assert not {o["kind"] for o in objects} & {"Role", "RoleBinding", "PodDisruptionBudget"}


def test_lease_name_replicas_and_timings_are_values(render: Render) -> None:
    objects = render(SCENARIOS["three-replicas-own-lease"])
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    args = run_args(deployment)
    assert (args.lease_duration, args.renew_deadline, args.retry_period) == (30, 20, 5)
    assert lease_of(deployment) == (NAMESPACE, "ssi-leader")
    # The user's podAntiAffinity replaces the chart's, it is not merged with it.
    affinity = deployment["spec"]["template"]["spec"]["affinity"]
    assert affinity == SCENARIOS["three-replicas-own-lease"]["affinity"]
    # The lease name defaults to the release's full name.
    assert lease_of(only(render({"fullnameOverride": "ssi"}), "Deployment")) == (NAMESPACE, "ssi")
    assert lease_of(only(render({}, namespace="platform"), "Deployment")) == ("platform", "scaleset-image-operator")
    # One replica with election: no PodDisruptionBudget, which would block every node drain.
    assert [o for o in render({"replicas": 1}) if o["kind"] == "PodDisruptionBudget"] == []
    assert [o for o in render({"podDisruptionBudget": {"enabled": False}}) if o["kind"] == "PodDisruptionBudget"] == []


def test_anti_affinity_is_added_to_the_users_node_affinity(render: Render) -> None:
    values = SCENARIOS["aks-namespaced-monitored"]
    affinity = only(render(values), "Deployment")["spec"]["template"]["spec"]["affinity"]
    assert affinity["nodeAffinity"] == values["affinity"]["nodeAffinity"]
    assert affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]


def test_chart_crds_are_identical_to_crds_directory(chart: helm_python.Chart) -> None:
    crds = sorted(chart.crds, key=lambda c: str(c["filename"]))
    assert [c["filename"] for c in crds] == [
        "scaleset-image-operator/crds/scalesetimagerollouts.imagerollout.dev.yaml",
        "scaleset-image-operator/crds/scalesetimages.imagerollout.dev.yaml",
    ]
    for crd, source in zip(crds, (FLEET_CRD_FILE, CRD_FILE), strict=True):
        assert crd["data"] == source.read_text(encoding="utf-8")
        assert (CHART / "crds" / source.name).read_bytes() == source.read_bytes()
        validate_object(yaml.safe_load(crd["data"]))


def test_image_defaults_to_app_version_and_takes_a_digest(chart: helm_python.Chart, render: Render) -> None:
    default = container_of(only(render({}), "Deployment"))["image"]
    assert default == f"scaleset-image-operator:{chart.metadata['appVersion']}"
    pinned = container_of(only(render(SCENARIOS["aks-namespaced-monitored"]), "Deployment"))["image"]
    assert pinned == "myregistry.azurecr.io/platform/scaleset-image-operator:0.1.0-rc.1@sha256:" + "ab" * 32


def test_workload_identity_annotates_the_service_account_and_labels_the_pod(render: Render) -> None:
    for values, expected in ((SCENARIOS["aks-namespaced-monitored"], True), ({}, False)):
        objects = render(values)
        annotations = only(objects, "ServiceAccount")["metadata"].get("annotations") or {}
        labels = only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
        assert (annotations.get("azure.workload.identity/client-id") == CLIENT_ID) is expected
        assert (labels.get("azure.workload.identity/use") == "true") is expected


def test_service_principal_comes_from_the_named_secret(render: Render) -> None:
    objects = render(SCENARIOS["azure-stack-hub"])
    env = {e["name"]: e for e in container_of(only(objects, "Deployment"))["env"]}
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "scaleset-image-azure-credentials", "key": name}
    assert env["AZURE_AUTHORITY_HOST"]["value"] == "https://adfs.west.azurestack.contoso.com/"
    assert env["HTTPS_PROXY"]["value"] == "http://proxy.contoso.com:3128"
    assert [e["name"] for e in container_of(only(render({}), "Deployment"))["env"]] == ["POD_NAME", "POD_NAMESPACE"]


def test_cloud_profiles_reach_the_operator_configuration(render: Render) -> None:
    config = mounted_config(render(SCENARIOS["azure-stack-hub"]))
    assert config.default_cloud == "stack-west"
    assert set(config.clouds) == {"stack-west"}
    stack = config.clouds["stack-west"]
    assert (stack.arm_endpoint, stack.credential_scope, stack.api_version) == (
        STACK["armEndpoint"],
        STACK["credentialScope"],
        "2020-06-01",
    )
    assert config.poll_interval == 20
    assert mounted_config(render({})).default_cloud == "azure-public"


def test_azure_budget_reaches_the_operator_configuration(render: Render) -> None:
    budget = {
        "readsPerSecond": 5,
        "readBurst": 50,
        "windows": [{"appliesTo": "vm_list", "limit": 90, "windowSeconds": 180}],
        "operatorShare": 0.25,
        "computeLimits": [
            {
                "policy": "VMScaleSetHighCostGet",
                "resource": {"refillPerMinute": 10, "capacity": 30},
                "subscription": {"refillPerMinute": 360, "capacity": 1080},
            }
        ],
    }
    config = mounted_config(render({"config": {"azureBudget": budget}}))
    assert (config.budget.reads_per_second, config.budget.read_burst) == (5.0, 50)
    assert config.budget.share == 0.25
    assert [(c.policy, c.resource_capacity, c.subscription_per_minute) for c in config.budget.compute] == [
        ("VMScaleSetHighCostGet", 30, 360.0)
    ]
    assert [(w.applies_to, w.limit, w.window) for w in config.budget.windows] == [("vm_list", 90, 180.0)]
    assert mounted_config(render({})).budget == BudgetConfig(), "no value: the operator's defaults"


def test_scope_policy_reaches_the_operator_configuration(render: Render) -> None:
    rules = [{"name": "team-web", "namespaces": ["web", "web-*"], "resourceGroups": ["rg-web*"]}]
    config = mounted_config(render({"config": {"scopePolicy": {"rules": rules}}}))
    assert config.scope is not None
    assert [r.name for r in config.scope.rules] == ["team-web"]
    assert config.scope.rules[0].resource_groups == ("rg-web*",)
    assert mounted_config(render({})).scope is None, "no value: no policy"


def test_prometheus_servers_webhooks_and_their_credential_volumes_reach_the_operator(render: Render) -> None:
    values = {
        "config": {
            "prometheus": {
                "servers": {
                    "main": {"url": "http://prometheus:9090", "bearerTokenFile": "/var/run/secrets/prometheus/token"}
                }
            },
            "webhooks": {"chatops": {"url": "https://chat.example.com/x", "namespaces": ["web"]}},
        },
        "extraVolumes": [{"name": "prometheus-token", "secret": {"secretName": "prometheus-token"}}],
        "extraVolumeMounts": [
            {"name": "prometheus-token", "mountPath": "/var/run/secrets/prometheus", "readOnly": True}
        ],
    }
    objects = render(values)
    config = mounted_config(objects)
    assert config.delivery.default_prometheus == "main"
    assert config.delivery.prometheus["main"].bearer_token_file == "/var/run/secrets/prometheus/token"
    assert config.delivery.webhooks["chatops"].namespaces == ("web",)
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "prometheus-token", "secret": {"secretName": "prometheus-token"}} in pod["volumes"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "prometheus-token", "mountPath": "/var/run/secrets/prometheus", "readOnly": True} in mounts
    assert mounted_config(render({})).delivery.prometheus == {}, "no value: no Prometheus"


def test_selector_reaches_the_operator_arguments(render: Render) -> None:
    def args(values: dict[str, Any]) -> list[str]:
        (deployment,) = [o for o in render(values) if o["kind"] == "Deployment"]
        return list(deployment["spec"]["template"]["spec"]["containers"][0]["args"])

    assert "--selector=shard in (a,b)" in args({"selector": "shard in (a,b)"})
    assert not [a for a in args({}) if a.startswith("--selector")], "no value: every ScaleSetImage"


def test_config_change_restarts_the_pod(render: Render) -> None:
    def checksum(values: dict[str, Any]) -> str:
        return str(only(render(values), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) == checksum({"logFormat": "json"})
    assert checksum({}) != checksum({"config": {"pollInterval": 30}})


def test_monitoring_objects_are_off_by_default(render: Render) -> None:
    kinds = [o["kind"] for o in render({})]
    assert "ServiceMonitor" not in kinds
    assert "PrometheusRule" not in kinds
    assert [o for o in render({}) if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-dashboard")] == []


def test_monitoring_switches_render_servicemonitor_rules_and_dashboard(render: Render) -> None:
    objects = render(SCENARIOS["aks-namespaced-monitored"])
    service = only(objects, "Service")
    monitor = only(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert all(service["metadata"]["labels"].get(k) == v for k, v in selected.items())
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]

    rule = only(objects, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((CHART / "files" / "alerts.yaml").read_text(encoding="utf-8"))

    dashboards = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-dashboard")]
    assert len(dashboards) == 1
    dashboard = dashboards[0]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Platform"}
    (content,) = dashboard["data"].values()
    assert json.loads(content) == json.loads((CHART / "files" / "dashboard.json").read_text(encoding="utf-8"))


def _exposed_metric_names() -> set[str]:
    """Every series name the operator's /metrics can expose (counters as _total, histograms as _bucket ...)."""
    names: set[str] = set()
    family: Metric
    metrics = OperatorMetrics()
    FleetMetrics(metrics.registry)  # the fleet series, in the same registry as `scaleset-image run` has them
    for family in metrics.registry.collect():
        suffixes = {
            "counter": ["_total", "_created"],
            "histogram": ["_bucket", "_sum", "_count", "_created"],
            "info": ["_info"],
        }.get(family.type, [""])
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_alert_and_dashboard_files_are_well_formed_and_query_real_metrics() -> None:
    alerts_text = (CHART / "files" / "alerts.yaml").read_text(encoding="utf-8")
    alerts = yaml.safe_load(alerts_text)
    check_rule_groups(alerts)
    rules = {r["alert"]: r for g in alerts["groups"] for r in g["rules"] if "alert" in r}
    # The operator being down (or not scraped) alerts, whatever else the rule file holds.
    down = rules["ScaleSetImageOperatorDown"]
    assert "absent(up{job=" in down["expr"].replace(" ", "")
    assert "scaleset-image" in down["expr"]
    assert down["for"] == "5m"

    dashboard_text = (CHART / "files" / "dashboard.json").read_text(encoding="utf-8")
    dashboard = json.loads(dashboard_text)
    assert dashboard["title"]
    panels = [*dashboard["panels"], *(q for p in dashboard["panels"] for q in p.get("panels", []))]  # rows nest
    exprs = [t["expr"] for p in panels for t in p.get("targets", []) if "expr" in t]
    assert exprs, "the dashboard has no queries"
    assert any("scaleset_image_phase" in e for e in exprs)

    used = metric_names_in(alerts_text) | metric_names_in(dashboard_text)
    assert used <= _exposed_metric_names(), f"unknown metrics: {used - _exposed_metric_names()}"


def test_values_file_matches_its_schema(chart: helm_python.Chart) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8")))
    for values in SCENARIOS.values():
        chart.validate_schema(values)


BAD_VALUES: dict[str, dict[str, Any]] = {
    "latest tag": {"image": {"tag": "latest"}},
    "digest not sha256": {"image": {"digest": "md5:abc"}},
    "unknown top-level key": {"replicaCount": 2},
    "invalid namespace": {"watchNamespaces": ["Team_A"]},
    "invalid profile name": {"config": {"clouds": {"Stack West": {}}}},
    "unknown profile key": {"config": {"clouds": {"azure-public": {"endpoint": "https://x"}}}},
    "non-https endpoint": {"config": {"clouds": {"s": {"armEndpoint": "ftp://management.contoso.com"}}}},
    "bad api-version": {"config": {"clouds": {"s": {"apiVersion": "2020"}}}},
    "zero poll interval": {"config": {"pollInterval": 0}},
    "zero concurrent passes": {"config": {"maxConcurrentPasses": 0}},
    "fractional concurrent passes": {"config": {"maxConcurrentPasses": 2.5}},
    "client id not a GUID": {"azure": {"workloadIdentity": {"clientId": "my-identity"}}},
    "http authority host": {"azure": {"authorityHost": "http://adfs.contoso.com"}},
    "unknown log format": {"logFormat": "xml"},
    "port out of range": {"metrics": {"port": 70000}},
    "no memory request": {"resources": {"requests": {"memory": None}}},
    "no memory limit": {"resources": {"limits": {"memory": None}}},
    "bad scrape interval": {"serviceMonitor": {"interval": "30 seconds"}},
    "label value not a string": {"dashboard": {"labels": {"grafana_dashboard": 1}}},
    "zero replicas": {"replicas": 0},
    "replicas not a number": {"replicas": "two"},
    "zero lease duration": {"leaderElection": {"leaseDuration": 0}},
    "negative renew deadline": {"leaderElection": {"renewDeadline": -10}},
    "zero retry period": {"leaderElection": {"retryPeriod": 0}},
    "lease duration with a unit": {"leaderElection": {"leaseDuration": "15s"}},
    "invalid lease name": {"leaderElection": {"leaseName": "Leader_A"}},
    "unknown leader election key": {"leaderElection": {"namespace": "kube-system"}},
    "election switch not a boolean": {"leaderElection": {"enabled": "yes"}},
}


@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_schema_refuses_bad_values(chart: helm_python.Chart, render: Render, values: dict[str, Any]) -> None:
    with pytest.raises(HelmValuesError):
        render(values)
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(chart.merge_values(values)))
    assert errors, "jsonschema accepted what Helm refused"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"config": {"defaultCloud": "stack-west"}}, 'config.defaultCloud "stack-west" is not one of the profiles'),
        ({"metrics": {"port": 8080}}, "metrics.port and livenessPort must differ"),
        ({"serviceAccount": {"create": False}}, "serviceAccount.name is required"),
        (
            {"leaderElection": {"leaseDuration": 10, "renewDeadline": 10}},
            r"leaderElection.leaseDuration \(10\) must be greater than leaderElection.renewDeadline \(10\)",
        ),
        (
            {"leaderElection": {"leaseDuration": 5, "renewDeadline": 10}},
            r"leaderElection.leaseDuration \(5\) must be greater than leaderElection.renewDeadline \(10\)",
        ),
        (
            {"leaderElection": {"renewDeadline": 2, "retryPeriod": 2}},
            r"leaderElection.renewDeadline \(2\) must be greater than leaderElection.retryPeriod \(2\)",
        ),
        (
            {"leaderElection": {"renewDeadline": 10, "retryPeriod": 12}},
            r"leaderElection.renewDeadline \(10\) must be greater than leaderElection.retryPeriod \(12\)",
        ),
        (
            {"leaderElection": {"enabled": False}},
            "replicas is 2 but leaderElection.enabled is false: standalone operators would all reconcile",
        ),
        (
            {"replicas": 3, "leaderElection": {"enabled": False}},
            "replicas is 3 but leaderElection.enabled is false",
        ),
    ],
)
def test_inconsistent_values_fail_the_render(render: Render, values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmRenderError, match=message):
        render(values)


def test_existing_service_account_is_used_without_creating_one(render: Render) -> None:
    objects = render({"serviceAccount": {"create": False, "name": "platform-operators"}})
    assert [o for o in objects if o["kind"] == "ServiceAccount"] == []
    assert only(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "platform-operators"
    binding = only(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "platform-operators", "namespace": NAMESPACE}]


def test_rbac_can_be_left_to_the_platform(render: Render) -> None:
    kinds = {o["kind"] for o in render({"rbac": {"create": False}})}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def test_chart_files_are_all_used() -> None:
    templates = "".join(p.read_text(encoding="utf-8") for p in (CHART / "templates").iterdir())
    for path in (CHART / "files").iterdir():
        assert f'"files/{path.name}"' in templates, f"files/{path.name} is not used by any template"
    assert {p.name for p in (CHART / "files").iterdir()} == {"alerts.yaml", "dashboard.json"}


def test_chart_monitoring_files_are_the_ones_in_deploy_monitoring() -> None:
    monitoring = CHART.parents[1] / "deploy" / "monitoring"
    rules = (monitoring / "alerts.rules.yaml").read_text(encoding="utf-8")
    assert (CHART / "files" / "alerts.yaml").read_text(encoding="utf-8") == rules
    dashboard = (monitoring / "dashboard.json").read_text(encoding="utf-8")
    assert (CHART / "files" / "dashboard.json").read_text(encoding="utf-8") == dashboard
    prometheus_rule = yaml.safe_load((monitoring / "prometheusrule.yaml").read_text(encoding="utf-8"))
    assert prometheus_rule["spec"] == yaml.safe_load(rules)


def test_stall_threshold_is_a_value(render: Render) -> None:
    def stall_expr(values: dict[str, Any]) -> str:
        rule = only(render({"prometheusRule": {"enabled": True, **values}}), "PrometheusRule")
        alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "Stalled" in r.get("alert", "")]
        assert len(alerts) == 1
        return str(alerts[0]["expr"])

    assert "> 3600" in stall_expr({})
    changed = stall_expr({"stallSeconds": 7200})
    assert "> 7200" in changed
    assert "> 3600" not in changed
