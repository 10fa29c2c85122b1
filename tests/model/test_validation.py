"""Good and bad resources: the generated CRD (patterns via ``re``, CEL via celpy) and the Python model
must accept and reject the same ones, for the same field."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from controller import resource as model
from controller.resource import ModelError, ScaleSetImage

from . import samples
from .model_facts import fields_of, model_classes
from .samples import drop, edit
from .schema_check import admit, iter_nodes, root_schema

Body = dict[str, Any]
Edit = Callable[[Body], Body]


def set_(path: str, value: Any) -> Edit:
    return lambda body: edit(body, path, value)


def unset(path: str) -> Edit:
    return lambda body: drop(body, path)


def both(*edits: Edit) -> Edit:
    def apply(body: Body) -> Body:
        for step in edits:
            body = step(body)
        return body

    return apply


MARKETPLACE = "spec.image.marketplace"
ROLLOUT = "spec.rollout"
SCALE_SET = "spec.scaleSet"
ONLY_GALLERY = both(unset(MARKETPLACE), set_("spec.image.galleryImageVersionId", samples.GALLERY_IMAGE))
ONLY_MANAGED = both(unset(MARKETPLACE), set_("spec.image.managedImageId", samples.MANAGED_IMAGE))
ONLY_VHD = both(unset(MARKETPLACE), set_("spec.image.vhdUri", samples.VHD))

GOOD: dict[str, Edit] = {
    "following a gallery image": set_("spec.follow", {"galleryImageId": samples.GALLERY_IMAGE}),
    "following a Marketplace SKU, auto-approved": set_(
        "spec.follow", {"marketplace": {"publisher": "P", "offer": "O", "sku": "S"}, "autoApprove": True}
    ),
    "following, with a version approved": set_(
        "spec.follow", {"galleryImageId": samples.GALLERY_IMAGE, "approvedVersion": "1.2.3"}
    ),
    "minimal marketplace image": lambda body: body,
    "marketplace latest": set_(f"{MARKETPLACE}.version", "latest"),
    "gallery image definition (latest version)": ONLY_GALLERY,
    "gallery image version": both(
        unset(MARKETPLACE), set_("spec.image.galleryImageVersionId", samples.GALLERY_IMAGE + "/versions/1.2.3")
    ),
    "gallery id with ARM casing variations": both(
        unset(MARKETPLACE),
        set_(
            "spec.image.galleryImageVersionId",
            samples.GALLERY_IMAGE.replace("resourceGroups", "resourcegroups").replace(
                "Microsoft.Compute", "microsoft.compute"
            ),
        ),
    ),
    "managed image": ONLY_MANAGED,
    "vhd uri": ONLY_VHD,
    "vhd uri with upper-case extension": both(unset(MARKETPLACE), set_("spec.image.vhdUri", samples.VHD[:-3] + "VHD")),
    "batch of 3": both(set_(f"{ROLLOUT}.domainKind", "Batch"), set_(f"{ROLLOUT}.batchSize", 3)),
    "batch of 25%": both(set_(f"{ROLLOUT}.domainKind", "Batch"), set_(f"{ROLLOUT}.batchSize", "25%")),
    "zones": set_(f"{ROLLOUT}.domainKind", "Zone"),
    "fault domains": set_(f"{ROLLOUT}.domainKind", "FaultDomain"),
    "no unhealthy instances allowed": set_(f"{ROLLOUT}.maxUnhealthyInstances", 0),
    "0% unhealthy": set_(f"{ROLLOUT}.maxUnhealthyInstances", "0%"),
    "100% unhealthy": set_(f"{ROLLOUT}.maxUnhealthyInstances", "100%"),
    "2 unhealthy": set_(f"{ROLLOUT}.maxUnhealthyInstances", 2),
    "pause 1h30m, timeout 1.5h": both(
        set_(f"{ROLLOUT}.pauseBetweenDomains", "1h30m"), set_(f"{ROLLOUT}.domainTimeout", "1.5h")
    ),
    "pause 500ms": set_(f"{ROLLOUT}.pauseBetweenDomains", "500ms"),
    "timeout exactly 1s": set_(f"{ROLLOUT}.domainTimeout", "1s"),
    "rollback on failure, paused": both(set_(f"{ROLLOUT}.onFailure", "Rollback"), set_(f"{ROLLOUT}.paused", True)),
    "azure stack hub cloud profile": set_(f"{SCALE_SET}.cloud", "azurestack-redmond"),
    "resource group with parentheses and periods": set_(f"{SCALE_SET}.resourceGroup", "web.prod(eu)_1"),
    "resource group of 90 characters": set_(f"{SCALE_SET}.resourceGroup", "r" * 90),
    "scale set name of 64 characters": set_(f"{SCALE_SET}.name", "v" * 64),
    "scale set name of one character": set_(f"{SCALE_SET}.name", "v"),
    "upper-case subscription id": set_(f"{SCALE_SET}.subscriptionId", samples.SUBSCRIPTION.upper()),
    "unknown fields are pruned, not rejected": set_("spec.rollout.surge", 3),
    "mid-rollout status": lambda body: samples.mid_rollout(),
}


@dataclass(frozen=True)
class Bad:
    edit: Edit
    location: str
    crd_says: str = ""
    """A fragment of the CRD's error message at ``location`` (CEL messages are quoted exactly)."""
    model_says: str | None = None
    """A fragment of the model's error message, when it differs from ``crd_says``."""


EXACTLY_ONE = "exactly one of marketplace, galleryImageVersionId, managedImageId or vhdUri must be set"

FOLLOW = "spec.follow"
ONE_FOLLOWED = "follow names exactly one of marketplace or galleryImageId"

BAD: dict[str, Bad] = {
    "follow naming nothing": Bad(set_(FOLLOW, {"autoApprove": True}), FOLLOW, ONE_FOLLOWED),
    "follow naming a gallery image and a Marketplace SKU": Bad(
        set_(
            FOLLOW,
            {"galleryImageId": samples.GALLERY_IMAGE, "marketplace": {"publisher": "P", "offer": "O", "sku": "S"}},
        ),
        FOLLOW,
        ONE_FOLLOWED,
    ),
    "follow naming a gallery image version": Bad(
        set_(FOLLOW, {"galleryImageId": samples.GALLERY_IMAGE + "/versions/1.0.0"}),
        f"{FOLLOW}.galleryImageId",
        "names an image definition, without /versions/",
    ),
    "follow approving a version that is not one": Bad(
        set_(FOLLOW, {"galleryImageId": samples.GALLERY_IMAGE, "approvedVersion": "latest"}),
        f"{FOLLOW}.approvedVersion",
        "should match",
    ),
    "two image sources": Bad(set_("spec.image.vhdUri", samples.VHD), "spec.image", EXACTLY_ONE),
    "no image source": Bad(unset(MARKETPLACE), "spec.image", EXACTLY_ONE),
    "all four image sources": Bad(
        both(
            set_("spec.image.vhdUri", samples.VHD),
            set_("spec.image.managedImageId", samples.MANAGED_IMAGE),
            set_("spec.image.galleryImageVersionId", samples.GALLERY_IMAGE),
        ),
        "spec.image",
        EXACTLY_ONE,
    ),
    "version 1.2": Bad(set_(f"{MARKETPLACE}.version", "1.2"), f"{MARKETPLACE}.version", "should match"),
    "version v1.2.3": Bad(set_(f"{MARKETPLACE}.version", "v1.2.3"), f"{MARKETPLACE}.version", "should match"),
    "version Latest": Bad(set_(f"{MARKETPLACE}.version", "Latest"), f"{MARKETPLACE}.version", "should match"),
    "publisher with a slash": Bad(set_(f"{MARKETPLACE}.publisher", "a/b"), f"{MARKETPLACE}.publisher"),
    "marketplace without sku": Bad(unset(f"{MARKETPLACE}.sku"), f"{MARKETPLACE}.sku", "required"),
    "scale set name with a slash": Bad(set_(f"{SCALE_SET}.name", "web/../../x"), f"{SCALE_SET}.name"),
    "scale set name ending in a hyphen": Bad(set_(f"{SCALE_SET}.name", "web-"), f"{SCALE_SET}.name"),
    "scale set name ending in a period": Bad(set_(f"{SCALE_SET}.name", "web."), f"{SCALE_SET}.name"),
    "scale set name starting with an underscore": Bad(set_(f"{SCALE_SET}.name", "_web"), f"{SCALE_SET}.name"),
    "scale set name of 65 characters": Bad(set_(f"{SCALE_SET}.name", "v" * 65), f"{SCALE_SET}.name"),
    "empty scale set name": Bad(set_(f"{SCALE_SET}.name", ""), f"{SCALE_SET}.name"),
    "resource group ending in a period": Bad(set_(f"{SCALE_SET}.resourceGroup", "rg."), f"{SCALE_SET}.resourceGroup"),
    "resource group of 91 characters": Bad(set_(f"{SCALE_SET}.resourceGroup", "r" * 91), f"{SCALE_SET}.resourceGroup"),
    "resource group with a slash": Bad(set_(f"{SCALE_SET}.resourceGroup", "a/b"), f"{SCALE_SET}.resourceGroup"),
    "subscription that is not a GUID": Bad(
        set_(f"{SCALE_SET}.subscriptionId", "my-subscription"), f"{SCALE_SET}.subscriptionId"
    ),
    "cloud given as a URL": Bad(
        # The model checks the pattern first, so it names the pattern; the CRD reports both.
        set_(f"{SCALE_SET}.cloud", "https://evil.example"),
        f"{SCALE_SET}.cloud",
        "never a URL or host",
        "should match",
    ),
    "cloud given as host:port": Bad(
        set_(f"{SCALE_SET}.cloud", "evil.example:443"), f"{SCALE_SET}.cloud", "never a URL or host", "should match"
    ),
    "cloud with upper case": Bad(set_(f"{SCALE_SET}.cloud", "AzurePublic"), f"{SCALE_SET}.cloud", "should match"),
    "missing scale set": Bad(unset(SCALE_SET), SCALE_SET, "required"),
    "missing spec": Bad(unset("spec"), "spec", "required"),
    "duration in words": Bad(
        set_(f"{ROLLOUT}.pauseBetweenDomains", "5 minutes"), f"{ROLLOUT}.pauseBetweenDomains", "should match"
    ),
    "duration without unit": Bad(set_(f"{ROLLOUT}.pauseBetweenDomains", "5"), f"{ROLLOUT}.pauseBetweenDomains"),
    "negative duration": Bad(set_(f"{ROLLOUT}.pauseBetweenDomains", "-5m"), f"{ROLLOUT}.pauseBetweenDomains"),
    "pause beyond what Go and CEL can represent": Bad(
        set_(f"{ROLLOUT}.pauseBetweenDomains", "100000000h"),
        f"{ROLLOUT}.pauseBetweenDomains",
        "must be a duration Kubernetes can represent",
        "longer than the longest Go duration",
    ),
    "duration in days": Bad(set_(f"{ROLLOUT}.domainTimeout", "1d"), f"{ROLLOUT}.domainTimeout"),
    "duration as a number": Bad(set_(f"{ROLLOUT}.domainTimeout", 300), f"{ROLLOUT}.domainTimeout", "type"),
    "zero domain timeout": Bad(
        set_(f"{ROLLOUT}.domainTimeout", "0s"), f"{ROLLOUT}.domainTimeout", "domainTimeout must be at least 1s"
    ),
    "sub-second domain timeout": Bad(
        set_(f"{ROLLOUT}.domainTimeout", "999ms"), f"{ROLLOUT}.domainTimeout", "domainTimeout must be at least 1s"
    ),
    "unhealthy 120%": Bad(
        set_(f"{ROLLOUT}.maxUnhealthyInstances", "120%"), f"{ROLLOUT}.maxUnhealthyInstances", "should match"
    ),
    "unhealthy -1": Bad(
        set_(f"{ROLLOUT}.maxUnhealthyInstances", -1), f"{ROLLOUT}.maxUnhealthyInstances", "greater than or equal"
    ),
    "unhealthy '20' without %": Bad(set_(f"{ROLLOUT}.maxUnhealthyInstances", "20"), f"{ROLLOUT}.maxUnhealthyInstances"),
    "unhealthy 12.5%": Bad(set_(f"{ROLLOUT}.maxUnhealthyInstances", "12.5%"), f"{ROLLOUT}.maxUnhealthyInstances"),
    "unhealthy true": Bad(set_(f"{ROLLOUT}.maxUnhealthyInstances", True), f"{ROLLOUT}.maxUnhealthyInstances"),
    "Batch without a size": Bad(
        set_(f"{ROLLOUT}.domainKind", "Batch"), ROLLOUT, "batchSize is required when domainKind is Batch"
    ),
    "batch size without Batch": Bad(
        set_(f"{ROLLOUT}.batchSize", 5), ROLLOUT, "batchSize may only be set when domainKind is Batch"
    ),
    "batch size 0": Bad(
        both(set_(f"{ROLLOUT}.domainKind", "Batch"), set_(f"{ROLLOUT}.batchSize", 0)), f"{ROLLOUT}.batchSize"
    ),
    "batch size 0%": Bad(
        both(set_(f"{ROLLOUT}.domainKind", "Batch"), set_(f"{ROLLOUT}.batchSize", "0%")), f"{ROLLOUT}.batchSize"
    ),
    "batch size 101%": Bad(
        both(set_(f"{ROLLOUT}.domainKind", "Batch"), set_(f"{ROLLOUT}.batchSize", "101%")), f"{ROLLOUT}.batchSize"
    ),
    "unknown domain kind": Bad(set_(f"{ROLLOUT}.domainKind", "Rack"), f"{ROLLOUT}.domainKind", "unsupported value"),
    "unknown failure policy": Bad(set_(f"{ROLLOUT}.onFailure", "Retry"), f"{ROLLOUT}.onFailure", "unsupported"),
    "paused as a string": Bad(set_(f"{ROLLOUT}.paused", "yes"), f"{ROLLOUT}.paused", "type"),
    "gallery id of another provider": Bad(
        both(
            unset(MARKETPLACE),
            set_("spec.image.galleryImageVersionId", samples.GALLERY_IMAGE.replace("Compute", "Storage")),
        ),
        "spec.image.galleryImageVersionId",
    ),
    "gallery version 'latest'": Bad(
        both(unset(MARKETPLACE), set_("spec.image.galleryImageVersionId", samples.GALLERY_IMAGE + "/versions/latest")),
        "spec.image.galleryImageVersionId",
    ),
    "managed image id that is a gallery id": Bad(
        both(unset(MARKETPLACE), set_("spec.image.managedImageId", samples.GALLERY_IMAGE)), "spec.image.managedImageId"
    ),
    "vhd over http": Bad(
        both(unset(MARKETPLACE), set_("spec.image.vhdUri", samples.VHD.replace("https:", "http:"))),
        "spec.image.vhdUri",
    ),
    "vhd uri not ending in .vhd": Bad(
        both(unset(MARKETPLACE), set_("spec.image.vhdUri", samples.VHD + "x")), "spec.image.vhdUri"
    ),
    "vhd uri with a query string": Bad(
        both(unset(MARKETPLACE), set_("spec.image.vhdUri", samples.VHD + "?sig=abc")), "spec.image.vhdUri"
    ),
    "status target pinned to latest": Bad(
        lambda body: edit(samples.mid_rollout(), "status.target.image.marketplace.version", "latest"),
        "status.target",
        "a resolved image names an exact version, never 'latest'",
    ),
    "status with duplicate domain ids": Bad(
        lambda body: edit(samples.mid_rollout(), "status.domains", [{"id": "0"}, {"id": "0", "state": "Pending"}]),
        "status.domains",
        "duplicate",
    ),
    "status with an unknown phase": Bad(
        lambda body: edit(samples.mid_rollout(), "status.phase", "Exploding"), "status.phase", "unsupported value"
    ),
    "status condition with a bad reason": Bad(
        lambda body: edit(
            samples.mid_rollout(),
            "status.conditions",
            [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "not a reason",
                    "message": "",
                    "lastTransitionTime": "2024-05-02T09:00:00Z",
                }
            ],
        ),
        "status.conditions[0].reason",
    ),
    "status operation polling a non-https URL": Bad(
        lambda body: edit(samples.mid_rollout(), "status.operation.azureAsyncOperation", "http://evil.example/op"),
        "status.operation.azureAsyncOperation",
    ),
}


def model_verdict(body: Body) -> ModelError | None:
    try:
        ScaleSetImage.from_dict(body)
    except ModelError as err:
        return err
    return None


@pytest.mark.parametrize("case", GOOD.values(), ids=GOOD.keys())
def test_good_resources_pass_crd_and_model(case: Edit) -> None:
    body = case(samples.minimal())
    defaulted, errors = admit(body)
    assert errors == []
    resource = ScaleSetImage.from_dict(body)
    # Defaults agree too: the API server's defaulted spec is exactly what the model fills in.
    expected_spec = {key: value for key, value in defaulted["spec"].items()}
    expected_spec["rollout"] = {k: v for k, v in expected_spec["rollout"].items() if k != "surge"}
    assert resource.spec.to_dict() == expected_spec


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_bad_resources_fail_crd_and_model_at_the_same_field(case: Bad) -> None:
    body = case.edit(samples.minimal())
    _, errors = admit(body)
    at_location = [error for error in errors if error.startswith(f"{case.location}:")]
    assert at_location, f"the CRD did not reject {case.location}; errors: {errors}"
    assert any(case.crd_says in error for error in at_location), at_location

    err = model_verdict(body)
    assert err is not None, "the model accepted what the CRD rejects"
    assert err.location == case.location
    assert (case.crd_says if case.model_says is None else case.model_says) in err.message


def test_every_cel_rule_is_exercised_by_a_bad_case() -> None:
    messages = {
        rule["message"] for _, node in iter_nodes(root_schema()) for rule in node.get("x-kubernetes-validations", [])
    }
    seen = {error for case in BAD.values() for error in admit(case.edit(samples.minimal()))[1]}
    seen |= set(admit(edit(samples.minimal(), f"{SCALE_SET}.name", "other"), old=samples.minimal())[1])
    uncovered = {message for message in messages if not any(message in error for error in seen)}
    assert uncovered == set()


def test_scale_set_is_immutable_on_update() -> None:
    old = samples.minimal()
    _, errors = admit(edit(old, f"{SCALE_SET}.name", "other-vmss"), old=old)
    assert errors == [
        "spec.scaleSet: scaleSet is immutable; create another ScaleSetImage to manage a different scale set"
    ]
    _, errors = admit(edit(old, f"{SCALE_SET}.cloud", "azurestack-redmond"), old=old)
    assert len(errors) == 1


def test_other_spec_changes_are_allowed_on_update() -> None:
    old = samples.minimal()
    new = edit(edit(old, f"{MARKETPLACE}.version", "latest"), f"{ROLLOUT}.paused", True)
    assert admit(new, old=old)[1] == []
    # Without a cloud the operator's configured defaultCloud applies, so writing one out on an object
    # stored without it may name another cloud: that changes the scale set, which is immutable.
    assert len(admit(edit(old, f"{SCALE_SET}.cloud", "azure-public"), old=old)[1]) == 1


def collect_rules() -> list[tuple[str, model.CelRule]]:
    """Every CEL rule of the model, with the class and field it sits on."""
    found = []
    for cls in model_classes(ScaleSetImage):
        found += [(cls.__name__, rule) for rule in cls.cel_rules]
        for info in fields_of(cls):
            found += [(f"{cls.__name__}.{info.name}", rule) for rule in info.rules]
    return found


def test_every_rule_but_transition_rules_has_a_python_twin() -> None:
    rules = collect_rules()
    assert len(rules) >= 7
    for where, rule in rules:
        assert (rule.check is None) == rule.is_transition, where
