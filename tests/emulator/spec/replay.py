"""Replaying the spec's operations against the emulator: the world a case needs, the request, and the checks.

A case is one operation at one api-version, either one of its published x-ms-examples or, for every operation,
the suite's own request (``own``), because the older api-versions publish examples for few operations. The
example's request is sent as published, with the world's names in its path (subscription, resource group,
scale set, instance id, VM name, image names) and the world's instance ids in an ``instanceIds`` body; the
world (a scenario) has whatever the example's body names: its marketplace image in its location, its gallery
or managed image.
"""

from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from scaleset_testbed import worlds
from scaleset_testbed.worlds import FLEX, LOCATION, OFFER, PUBLISHER, RG, SKU, SUB, V1, V2, V3, VMSS

from ..conftest import Control, RawResponse, raw_request
from .swagger import validate

HERE = Path(__file__).parent
AZURE_STACK = "2020-06-01"
ROLLING = "vmss-roll"  # a Rolling scale set on 'latest' with the health extension
NEW = "vmss-new"  # the name a PUT creates
GALLERY, GALLERY_IMAGE, GALLERY_VERSION = "gal", "img", "1.0.0"
MANAGED = "img-managed"
GALLERY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}/images/{GALLERY_IMAGE}"
)
MANAGED_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/images/{MANAGED}"
TERMINAL = ("Succeeded", "Failed", "Canceled")
STATUSES = ("InProgress", *TERMINAL)


def load(folder: str, name: str) -> Any:
    return json.loads((HERE / folder / f"{name}.json").read_text())


def data_folders() -> list[str]:
    return sorted(p.name for p in HERE.iterdir() if p.is_dir() and (p / "operations.json").exists())


@dataclass
class Case:
    folder: str  # "compute-2020-06-01"
    operation: str
    name: str  # an x-ms-examples name, or "own"
    example: dict[str, Any] | None = None
    profile: str = "azure"  # or "azurestack": Azure Stack Hub, 2020-06-01 only and no Flexible sets

    @property
    def flexible(self) -> bool:
        """Whether the world has a Flexible set (Azure Stack Hub has none)."""
        return self.profile == "azure"

    @property
    def api_version(self) -> str:
        return self.folder.split("-", 1)[1]

    @property
    def id(self) -> str:
        stack = ":azurestack" if self.profile == "azurestack" else ""
        return f"{self.folder}{stack}:{self.operation}:{self.name}"


def cases() -> list[Case]:
    out: list[Case] = []
    for folder in data_folders():
        examples = load(folder, "examples")
        for op in load(folder, "operations"):
            out.append(Case(folder, op, "own"))
            for name, entry in sorted((examples.get(op) or {}).items()):
                out.append(Case(folder, op, name, entry["example"]))
    # Azure Stack Hub's profile serves 2020-06-01 alone and refuses Flexible sets (their VM routes serve only those).
    out += [
        Case(c.folder, c.operation, c.name, c.example, "azurestack")
        for c in list(out)
        if c.folder == f"compute-{AZURE_STACK}" and not c.operation.startswith("VirtualMachines_")
    ]
    return out


# ---------------------------------------------------------------------------------------------------- the world
def scenario(case: Case) -> dict[str, Any]:
    """A world with a Manual Uniform set, a Rolling one on 'latest', a Flexible one (not on Azure Stack Hub), a
    gallery image and a managed image, plus whatever the example's request body names."""
    sets: dict[str, Any] = {
        VMSS: worlds.scale_set(capacity=4),
        ROLLING: worlds.scale_set(
            capacity=4,
            upgradePolicy="Rolling",
            image={"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": "latest"},
            rollingUpgradePolicy={"maxBatchInstancePercent": 50},
        ),
    }
    if case.flexible:
        sets[FLEX] = worlds.flex_scale_set(capacity=2)
    data = worlds.scenario(
        {RG: sets},
        versions=[V1, V2],
        galleries=[
            {
                "subscriptionId": SUB,
                "resourceGroup": RG,
                "gallery": GALLERY,
                "image": GALLERY_IMAGE,
                "versions": [GALLERY_VERSION],
                "regions": [LOCATION],
            }
        ],
        managedImages=[MANAGED_ID],
        # Upgrades slow enough that the rolling upgrade prepare() starts is still running when GetLatest or Cancel
        # reaches it on a machine loaded by the rest of make test (at 2 s one Cancel once found it finished).
        timing={"instanceUpgradeSeconds": 4.0, "instanceCreateSeconds": 2.0, "modelUpdateSeconds": 0.5},
    )
    body = request_body(case)
    if isinstance(body, dict):
        _add_images(data, body)
    return data


def _add_images(data: dict[str, Any], body: dict[str, Any]) -> None:
    location = str(body.get("location") or LOCATION).replace(" ", "").lower()
    profile = (body.get("properties") or {}).get("virtualMachineProfile") or {}
    ref = (profile.get("storageProfile") or {}).get("imageReference") or {}
    if ref.get("publisher"):
        version = ref.get("version") or V1
        versions = [V1] if str(version).lower() == "latest" else [str(version)]
        data["images"].append(
            {
                "location": location,
                "publisher": ref["publisher"],
                "offer": ref["offer"],
                "sku": ref["sku"],
                "versions": versions,
            }
        )
    image_id = str(ref.get("id") or "")
    if "/galleries/" in image_id.lower():
        parts = image_id.split("/")
        versions = [parts[12]] if len(parts) > 12 else [GALLERY_VERSION]
        data["galleries"].append(
            {
                "subscriptionId": parts[2],
                "resourceGroup": parts[4],
                "gallery": parts[8],
                "image": parts[10],
                "versions": versions,
                "regions": [location],
            }
        )
    elif "/images/" in image_id.lower():
        data["managedImages"].append(image_id)
    data.setdefault("vhds", [])


# ---------------------------------------------------------------------------------------------------- requests
def body_parameter(case: Case) -> dict[str, Any] | None:
    op = load(case.folder, "operations")[case.operation]
    return next((p for p in op["parameters"] if p.get("in") == "body"), None)


OWN_BODIES: dict[str, Any] = {
    "VirtualMachineScaleSets_CreateOrUpdate": {
        "location": LOCATION,
        "sku": {"name": "Standard_D2s_v3", "tier": "Standard", "capacity": 2},
        "properties": {
            "upgradePolicy": {"mode": "Manual"},
            "virtualMachineProfile": {
                "osProfile": {"computerNamePrefix": "new", "adminUsername": "azureuser"},
                "storageProfile": {"imageReference": worlds.image_reference(V2)},
                "networkProfile": {"networkInterfaceConfigurations": []},
            },
        },
    },
    "VirtualMachineScaleSets_Update": {"sku": {"capacity": 5}},
    "VirtualMachineScaleSets_Reimage": {"instanceIds": ["0"]},
    "VirtualMachineScaleSets_UpdateInstances": {"instanceIds": ["0"]},
    "VirtualMachineScaleSets_DeleteInstances": {"instanceIds": ["3"]},
    "VirtualMachineScaleSets_Start": {"instanceIds": ["0"]},
    "VirtualMachineScaleSets_Restart": {"instanceIds": ["0"]},
    "VirtualMachineScaleSets_PowerOff": {"instanceIds": ["0"]},
    "VirtualMachineScaleSets_Deallocate": {"instanceIds": ["0"]},
}


def _placeholder(value: Any) -> bool:
    """The generated examples (``*_MaximumSet_Gen``) fill strings with runs of ``a``: no real name or filter."""
    return isinstance(value, str) and re.fullmatch(r"a+", value) is not None


def request_body(case: Case) -> Any:
    param = body_parameter(case)
    if case.example is None:
        return copy.deepcopy(OWN_BODIES.get(case.operation))
    if param is None:
        return None
    body = copy.deepcopy(case.example["parameters"].get(param["name"]))
    if isinstance(body, dict) and isinstance(body.get("instanceIds"), list):
        body["instanceIds"] = ["0", "1"][: len(body["instanceIds"])] or ["0"]
    profile = ((body.get("properties") or {}).get("virtualMachineProfile") or {}) if isinstance(body, dict) else {}
    storage = profile.get("storageProfile") or {}
    ref = storage.get("imageReference")
    if isinstance(ref, dict) and any(_placeholder(v) for v in ref.values()):
        storage["imageReference"] = worlds.image_reference(V2)  # a generated, unreal image
    return body


def target_set(case: Case) -> str:
    if "RollingUpgrades" in case.operation:
        return ROLLING
    return NEW if case.operation == "VirtualMachineScaleSets_CreateOrUpdate" else VMSS


def path_values(case: Case, flex_vm: str) -> dict[str, str]:
    return {
        "subscriptionId": SUB,
        "resourceGroupName": RG,
        "vmScaleSetName": target_set(case),
        "virtualMachineScaleSetName": target_set(case),
        "instanceId": "0",
        "vmName": flex_vm,
        "location": LOCATION,
        "publisherName": PUBLISHER,
        "offer": OFFER,
        "skus": SKU,
        "version": V1,
        "galleryName": GALLERY,
        "galleryImageName": GALLERY_IMAGE,
        "galleryImageVersionName": GALLERY_VERSION,
        "imageName": MANAGED,
    }


def query(case: Case) -> dict[str, str]:
    """The example's query parameters the operation declares (the api-version is the case's)."""
    out = {"api-version": case.api_version}
    if case.example is None:
        return out
    op = load(case.folder, "operations")[case.operation]
    declared = {p["name"] for p in op["parameters"] if p.get("in") == "query" and p["name"] != "api-version"}
    for name in declared:
        value = case.example["parameters"].get(name)
        if value is not None and not _placeholder(value):
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


@dataclass
class Answer:
    case: Case
    path: str
    response: RawResponse
    polls: list[tuple[str, RawResponse]] = field(default_factory=list)


def prepare(case: Case, url: str, control: Control) -> None:
    """What an operation needs before it can answer: a rolling upgrade to read or cancel, a newer image."""
    if case.operation in ("VirtualMachineScaleSetRollingUpgrades_StartOSUpgrade", *_NEEDS_ROLLING):
        control.call("POST", "images/marketplace", {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": V3})
    if case.operation in _NEEDS_ROLLING:
        path = worlds.vmss_path(name=ROLLING) + "/osRollingUpgrade"
        started = raw_request(f"{url}{path}?api-version={case.api_version}", "POST")
        assert started.status == 202, started.body


_NEEDS_ROLLING = ("VirtualMachineScaleSetRollingUpgrades_GetLatest", "VirtualMachineScaleSetRollingUpgrades_Cancel")


def send(case: Case, url: str, control: Control) -> Answer:
    op = load(case.folder, "operations")[case.operation]
    flex_vm = next((i["instanceId"] for i in control.instances(FLEX)), "none") if case.flexible else "none"
    values = path_values(case, flex_vm)
    path = re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe=""), op["path"])
    prepare(case, url, control)
    response = raw_request(f"{url}{path}?{urlencode(query(case))}", op["method"], request_body(case))
    answer = Answer(case, path, response)
    if op["longRunning"] and response.status in (200, 201, 202):
        answer.polls = poll(response)
    return answer


def poll(response: RawResponse, seconds: float = 20.0) -> list[tuple[str, RawResponse]]:
    """Follow Azure-AsyncOperation to a terminal status, then read the Location monitor once."""
    polls: list[tuple[str, RawResponse]] = []
    status_url = response.headers.get("azure-asyncoperation")
    deadline = time.monotonic() + seconds
    while status_url:
        answer = raw_request(status_url)
        polls.append(("Azure-AsyncOperation", answer))
        if answer.status != 200 or answer.json().get("status") in TERMINAL or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if response.headers.get("location"):
        polls.append(("Location", raw_request(response.headers["location"])))
    return polls


# ---------------------------------------------------------------------------------------------------- checks
def problems(answer: Answer) -> list[str]:
    """Every way the answer departs from the operation as the case's api-version defines it."""
    case, response = answer.case, answer.response
    op = load(case.folder, "operations")[case.operation]
    definitions = load(case.folder, "definitions")
    found: list[str] = []
    declared = op["responses"].get(str(response.status))
    if declared is None:
        return [f"status {response.status} not in {sorted(op['responses'])}: {response.body[:300]!r}"]
    body = response.json() if response.body else None
    if "schema" in declared:
        if body is None:
            found.append("no body, the operation declares one")
        else:
            found += validate(definitions, declared["schema"], body, response=True)
            found += id_problems(case, op, answer.path, body)
    elif body is not None:
        found.append(f"a body where the operation declares none: {response.body[:200]!r}")
    if op["longRunning"]:
        found += lro_problems(response, answer.polls)
    return found


# The GET operation whose path spells each resource type's id (the type segments: resourceGroups, providers, ...).
_ID_TEMPLATES = {
    "Microsoft.Compute/virtualMachineScaleSets": "VirtualMachineScaleSets_Get",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines": "VirtualMachineScaleSetVMs_Get",
    "Microsoft.Compute/virtualMachines": "VirtualMachines_Get",
    "Microsoft.Compute/galleries/images/versions": "GalleryImageVersions_Get",
    "Microsoft.Compute/images": "Images_Get",
}


def _type_segments(resource_id: str) -> list[str]:
    return [p for i, p in enumerate(resource_id.strip("/").split("/")) if i % 2 == 0]


def _items(body: Any) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        return list(body["value"])
    return list(body) if isinstance(body, list) else [body]


def id_problems(case: Case, op: dict[str, Any], path: str, body: Any) -> list[str]:
    """A resource's id: its type segments spelled as the path of the spec's GET of that type; a resource read
    by its own path has that path as its id."""
    out: list[str] = []
    operations = load(case.folder, "operations")
    for item in _items(body):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        template = operations.get(_ID_TEMPLATES.get(str(item.get("type")), ""), {}).get("path")
        if template is None:
            continue
        spellings = [_type_segments(template), *_example_spellings(template)]
        if _type_segments(item["id"]) not in spellings:
            out.append(f"id {item['id']!r}: type segments spelled neither as {template!r} nor as an example")
    own = op["method"] != "POST" and isinstance(body, dict) and isinstance(body.get("id"), str) and "type" in body
    if own and body["id"].lower() != path.lower():
        out.append(f"id {body['id']!r} is not the request's path {path!r}")
    return out


def _example_spellings(template: str) -> list[list[str]]:
    """How the stored example answers, any api-version, spell the ids of resources at ``template`` (they spell
    ids as Azure does, where a path template may not: ``virtualmachines`` in it, ``virtualMachines`` in ids)."""
    wanted = [p.lower() for p in _type_segments(template)]
    found: list[list[str]] = []
    for by_name in (b for folder in data_folders() for b in load(folder, "examples").values()):
        for entry in by_name.values():
            for answer in (entry["example"].get("responses") or {}).values():
                for item in _items(answer.get("body") if isinstance(answer, dict) else None):
                    if isinstance(item, dict) and isinstance(item.get("id"), str):
                        segments = _type_segments(item["id"])
                        if [p.lower() for p in segments] == wanted:
                            found.append(segments)
    return found


def lro_problems(response: RawResponse, polls: list[tuple[str, RawResponse]]) -> list[str]:
    found: list[str] = []
    if "azure-asyncoperation" not in response.headers:
        found.append(f"long-running answer {response.status} without Azure-AsyncOperation")
    if response.status == 202 and "location" not in response.headers:
        found.append("202 without Location")
    common = json.loads((HERE / "common.json").read_text())
    statuses = [r for kind, r in polls if kind == "Azure-AsyncOperation"]
    for status in statuses:
        if status.status != 200:
            found.append(f"operation status answered {status.status}")
            continue
        doc = status.json()
        schema = common["operationStatus"]
        found += [f"operation status: {p}" for p in validate(common["definitions"], schema, doc, response=True)]
        if doc.get("status") not in STATUSES:
            found.append(f"operation status {doc.get('status')!r} not one of {STATUSES}")
    if statuses and statuses[-1].status == 200 and statuses[-1].json().get("status") != "Succeeded":
        found.append(f"operation ended {statuses[-1].json()}")
    for kind, monitor in polls:
        if kind == "Location" and monitor.status not in (200, 202, 204):
            found.append(f"Location monitor answered {monitor.status}")
    return found
