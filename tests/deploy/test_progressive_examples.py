"""The progressive-delivery examples: the ScaleSetImage, the operator configuration it relies on, and the RBAC
that lets the operator read a hook URL from a Secret.

Aspects: the configuration parses and defines every Prometheus server and webhook the example names, and
allows the example's namespace to use them; the Secret and the Role name exactly the key the example reads;
every object is valid for the API server (kubernetes-validate), the ScaleSetImage for the CRD and the model.
"""

from __future__ import annotations

from typing import Any

import yaml

from controller.config import parse_config
from controller.resource import ScaleSetImage

from .support import DEPLOY, load_file, scalesetimage_errors, validate_object

EXAMPLE = DEPLOY / "examples" / "progressive" / "scalesetimage.yaml"
PROGRESSIVE = DEPLOY / "examples" / "progressive"


def _example() -> dict[str, Any]:
    (doc,) = load_file(EXAMPLE)
    assert isinstance(doc, dict)
    return doc


def test_the_example_uses_every_progressive_field_and_is_accepted() -> None:
    doc = _example()
    assert scalesetimage_errors(doc) == []
    rollout = ScaleSetImage.from_dict(doc).spec.rollout
    assert rollout.analysis is not None
    assert rollout.maintenance_windows
    assert rollout.hooks
    assert rollout.approval == "BeforeFirstDomain"


def test_the_configuration_defines_what_the_example_names_for_its_namespace() -> None:
    assert (PROGRESSIVE / "operator-config.yaml").read_text(encoding="utf-8").startswith("#")
    (config_map,) = load_file(PROGRESSIVE / "operator-config.yaml")
    validate_object(config_map)
    (base,) = load_file(DEPLOY / "base" / "config.yaml")
    assert config_map["metadata"] == base["metadata"], "it replaces the base ConfigMap"
    config = parse_config(yaml.safe_load(config_map["data"]["config.yaml"]))
    doc = _example()
    namespace = doc["metadata"]["namespace"]
    rollout = ScaleSetImage.from_dict(doc).spec.rollout
    assert rollout.analysis is not None
    server = config.delivery.prometheus_for(rollout.analysis.prometheus, namespace)
    assert not isinstance(server, str), server
    assert server.bearer_token_file
    team_a = config.delivery.prometheus_for("team-a", namespace)
    assert isinstance(team_a, str), "team-a's Prometheus is not for namespace web"
    for hook in rollout.hooks or ():
        if hook.webhook is not None:
            assert hook.webhook in config.delivery.webhooks, hook.name
            assert config.delivery.webhooks[hook.webhook].allows(namespace), hook.name


def test_the_secret_and_its_role_are_the_ones_the_hook_reads() -> None:
    objects = load_file(PROGRESSIVE / "hook-secret-access.yaml")
    for obj in objects:
        validate_object(obj)
    by_kind = {obj["kind"]: obj for obj in objects}
    rollout = ScaleSetImage.from_dict(_example()).spec.rollout
    refs = [h.url_secret_ref for h in rollout.hooks or () if h.url_secret_ref is not None]
    assert len(refs) == 1
    ref = refs[0]
    secret = by_kind["Secret"]
    assert secret["metadata"]["name"] == ref.name
    assert ref.key in secret["stringData"]
    (rule,) = by_kind["Role"]["rules"]
    assert rule == {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [ref.name], "verbs": ["get"]}
    (operator_account,) = [
        o for o in load_file(DEPLOY / "base" / "serviceaccount.yaml") if o["kind"] == "ServiceAccount"
    ]
    (subject,) = by_kind["RoleBinding"]["subjects"]
    assert subject["name"] == operator_account["metadata"]["name"]
    assert subject["namespace"] == operator_account["metadata"]["namespace"]
