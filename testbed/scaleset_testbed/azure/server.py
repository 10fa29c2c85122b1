"""The emulator's HTTP face: the ARM/Microsoft.Compute routes, and the ``/_emulator/`` control API.

Every ARM request goes through the same steps, in the order ARM applies them: advance the simulation to
now, record the request in the audit, apply an injected fault if one matches, route, authenticate
(``Authorization: Bearer``), check ``api-version`` against what the route's resource provider publishes,
charge throttling, then handle. Errors at any step answer in ARM's error format.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import yaml
from aiohttp import web

from . import api_fields, bodies, catalog_routes, flex, flex_routes, power_routes, rolling, rolling_view
from .api_versions import supported_versions
from .clock import Clock
from .errors import ArmError, invalid_parameter
from .faults import FaultBook, FaultRule
from .render import instance_view_json, scale_set_instance_view_json, scale_set_json, vm_json
from .routing import RG, SUB, VMSS, Call, Route, paged
from .routing import json_response as _json
from .routing import route as _route
from .scenario import Scenario, ScenarioError, parse_scenario
from .throttle import Throttler, throttled_resource
from .world import Operation, ScaleSet, World

Handler = Callable[[Call], Awaitable[web.StreamResponse]]


ROUTES: list[Route] = [
    _route("GET", VMSS, "VirtualMachineScaleSets_Get", "get_scale_set"),
    _route("PUT", VMSS, "VirtualMachineScaleSets_CreateOrUpdate", "put_scale_set"),
    _route("PATCH", VMSS, "VirtualMachineScaleSets_Update", "patch_scale_set"),
    _route(
        "GET",
        RG + r"/providers/Microsoft\.Compute/virtualMachineScaleSets",
        "VirtualMachineScaleSets_List",
        "list_scale_sets",
    ),
    _route(
        "GET",
        SUB + r"/providers/Microsoft\.Compute/virtualMachineScaleSets",
        "VirtualMachineScaleSets_ListAll",
        "list_scale_sets",
    ),
    _route("GET", VMSS + "/instanceView", "VirtualMachineScaleSets_GetInstanceView", "scale_set_instance_view"),
    _route("POST", VMSS + "/manualupgrade", "VirtualMachineScaleSets_UpdateInstances", "manual_upgrade"),
    _route("POST", VMSS + "/reimage", "VirtualMachineScaleSets_Reimage", "reimage_scale_set"),
    _route("GET", VMSS + "/virtualMachines", "VirtualMachineScaleSetVMs_List", "list_vms"),
    _route("GET", VMSS + r"/virtualMachines/(?P<iid>[^/]+)", "VirtualMachineScaleSetVMs_Get", "get_vm"),
    _route(
        "GET",
        VMSS + r"/virtualMachines/(?P<iid>[^/]+)/instanceView",
        "VirtualMachineScaleSetVMs_GetInstanceView",
        "get_vm_instance_view",
    ),
    _route(
        "POST", VMSS + r"/virtualMachines/(?P<iid>[^/]+)/reimage", "VirtualMachineScaleSetVMs_Reimage", "reimage_vm"
    ),
    _route(
        "GET", VMSS + "/rollingUpgrades/latest", "VirtualMachineScaleSetRollingUpgrades_GetLatest", "rolling_latest"
    ),
    _route("POST", VMSS + "/rollingUpgrades/cancel", "VirtualMachineScaleSetRollingUpgrades_Cancel", "rolling_cancel"),
    _route(
        "POST", VMSS + "/osRollingUpgrade", "VirtualMachineScaleSetRollingUpgrades_StartOSUpgrade", "rolling_start_os"
    ),
    _route(
        "GET",
        SUB + r"/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)",
        "Operations_GetStatus",
        "operation_status",
    ),
    *flex_routes.ROUTES,
    *catalog_routes.ROUTES,
    *power_routes.ROUTES,
]


class AzureEmulator:
    """An aiohttp application serving the emulated ARM API over a :class:`World`."""

    def __init__(self, scenario: Scenario, *, profile: str = "azure", time_scale: float = 1.0) -> None:
        if profile not in ("azure", "azurestack"):
            raise ValueError("profile must be 'azure' or 'azurestack'")
        self.profile = profile
        self.clock = Clock(time_scale)
        self.initial_scenario = scenario
        self.faults = FaultBook()
        self._load(scenario)
        self.app = web.Application(client_max_size=16 * 1024 * 1024)
        self.app.router.add_route("*", "/_emulator/{tail:.*}", self._control)
        self.app.router.add_route("GET", "/metadata/endpoints", self._metadata_endpoints)
        self.app.router.add_route("*", "/{tail:.*}", self._arm)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def _load(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.world = World(scenario, self.clock, profile=self.profile)
        throttle_clock = self.clock.now if scenario.throttling.clock == "scenario" else time.monotonic
        self.throttler = Throttler(scenario.throttling, clock=throttle_clock)

    # ------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 picks a free port) and return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        if not sockets:
            raise RuntimeError(f"the emulator could not listen on {host}:{port}")
        bound = sockets[0].getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.url = f"http://{shown}:{bound[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------- ARM path
    async def _arm(self, request: web.Request) -> web.StreamResponse:
        api_version = request.query.get("api-version", "")
        body: Any = None
        raw = await request.read()
        # Advance only after the last await before recording, so no other request can record later events
        # in between and break the audit's time order.
        now = self.world.advance()
        body_error: ArmError | None = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body_error = ArmError(400, "InvalidRequestFormat", "Cannot parse the request.")
        audit: dict[str, Any] = {
            "type": "request",
            "time": round(now, 6),
            "method": request.method,
            "path": request.path,
            "apiVersion": api_version or None,
            "status": None,
            "body": body,
            "operation": None,
        }
        if "x-ms-client-request-id" in request.headers:
            audit["clientRequestId"] = request.headers["x-ms-client-request-id"]
        if "User-Agent" in request.headers:  # which client (with leader election: which replica) sent it
            audit["userAgent"] = request.headers["User-Agent"]
        self.world.record(audit)
        request_id = str(uuid.uuid4())
        headers = {"x-ms-request-id": request_id, "x-ms-correlation-request-id": request_id}
        if "x-ms-client-request-id" in request.headers:
            headers["x-ms-client-request-id"] = request.headers["x-ms-client-request-id"]
        fault = self.faults.take(request.method, request.path)
        try:
            if fault is not None:
                audit["fault"] = fault.to_json()
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.drop:
                    audit["status"] = 0
                    if request.transport is not None:
                        request.transport.close()
                    raise asyncio.CancelledError  # aiohttp ends the request without answering
                if fault.status is not None:
                    extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                    raise ArmError(fault.status, fault.code, fault.message, headers=extra)
                now = self.world.advance()
            route, params = self._match(request.method, request.path)
            audit["operation"] = route.operation
            self._authenticate(request)
            self._check_api_version(route, api_version)
            if body_error is not None:
                raise body_error
            subscription = params.get("sub", "")
            headers.update(
                self.throttler.check(
                    subscription,
                    request.method,
                    route.operation,
                    resource=throttled_resource(params),
                    principal=request.headers.get("Authorization", ""),
                )
            )
            call = Call(request, route, params, api_version, body, audit, now)
            if route.function is not None:
                response = await route.function(self, call)
            else:
                handler: Handler = getattr(self, "_h_" + route.handler_name)
                response = await handler(call)
        except ArmError as err:
            response = _json(err.body(), err.status, err.headers)
            audit["errorCode"] = err.code
        for key, value in headers.items():
            response.headers.setdefault(key, value)
        audit["status"] = response.status
        if fault is not None and fault.drop_after:
            # The operation ran (its effects and operation id stand); only the answer is lost on the way.
            audit["executedStatus"] = response.status
            audit["status"] = 0
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        return response

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        path_matched = False
        for route in ROUTES:
            m = route.pattern.match(path)
            if m is None:
                continue
            path_matched = True
            if route.method == method:
                return route, {k: v for k, v in m.groupdict().items() if v is not None}
        if path_matched:
            raise ArmError(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")
        raise ArmError(404, "NotFound", f"No HTTP resource was found that matches the request URI '{path}'.")

    @staticmethod
    def _authenticate(request: web.Request) -> None:
        header = request.headers.get("Authorization")
        challenge = {
            "WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
            "error_description=\"The authentication failed because of missing 'Authorization' header.\""
        }
        if not header:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                headers=challenge,
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                headers=challenge,
            )

    def _check_api_version(self, route: Route, api_version: str) -> None:
        if not api_version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if not re.match(r"^\d{4}-\d{2}-\d{2}(-preview)?$", api_version):
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{api_version}' is invalid. The supported versions are "
                f"'{','.join(reversed(supported_versions(route.family, self.profile)))}'.",
            )
        supported = supported_versions(route.family, self.profile)
        if api_version not in supported:
            kind = "galleries" if route.family == "gallery" else route.kind
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for location '{self.scenario.location}' and API "
                f"version '{api_version}' for type '{kind}'. The supported api-versions are "
                f"'{', '.join(reversed(supported))}'. The supported locations are "
                f"'{self.scenario.location}'.",
            )

    # ----------------------------------------------------- LRO plumbing
    def _lro_headers(self, call: Call, op: Operation, *, with_location: bool) -> dict[str, str]:
        path = (
            f"/subscriptions/{op.subscription_id}/providers/Microsoft.Compute/locations/{op.location}"
            f"/operations/{op.id}"
        )
        headers = {"Azure-AsyncOperation": f"{call.base}{path}?p={op.id}&api-version={call.api_version}"}
        if with_location:
            headers["Location"] = f"{call.base}{path}?p={op.id}&monitor=true&api-version={call.api_version}"
        retry = self.scenario.timing.retry_after_seconds
        if retry is not None:
            headers["Retry-After"] = str(retry)
        call.audit["operationId"] = op.id
        return headers

    def accepted(self, call: Call, op: Operation) -> web.Response:
        return web.Response(status=202, headers=self._lro_headers(call, op, with_location=True))

    async def _h_operation_status(self, call: Call) -> web.Response:
        op = self.world.operations.get(call.params["op"])
        if op is None or op.subscription_id != call.params["sub"]:
            raise ArmError(404, "NotFound", f"The operation '{call.params['op']}' was not found.")
        if call.request.query.get("monitor") == "true":
            if op.status == "InProgress":
                headers = {"Location": str(call.request.url)}
                if self.scenario.timing.retry_after_seconds is not None:
                    headers["Retry-After"] = str(self.scenario.timing.retry_after_seconds)
                return web.Response(status=202, headers=headers)
            if op.status == "Succeeded":
                return web.Response(status=200)
            error = op.error or {"code": "OperationFailed", "message": "The operation failed."}
            return _json({"error": error}, 500 if op.status == "Failed" else 409)
        body: dict[str, Any] = {"name": op.id, "status": op.status, "startTime": self.world.iso(op.started)}
        if op.ended is not None:
            body["endTime"] = self.world.iso(op.ended)
        if op.error:
            body["error"] = op.error
        retry = self.scenario.timing.retry_after_seconds
        if op.status == "InProgress" and retry is not None:
            return _json(body, 200, {"Retry-After": str(retry)})  # when to ask again, as ARM says it
        return _json(body)

    # ------------------------------------------------------------ scale sets
    def _scale_set(self, call: Call) -> ScaleSet:
        return self.world.get_scale_set(call.params["sub"], call.params["rg"], call.params["name"])

    async def _h_get_scale_set(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        return _json(scale_set_json(self.world, ss, call.api_version))

    async def _h_list_scale_sets(self, call: Call) -> web.Response:
        sub, rg = call.params["sub"], call.params.get("rg")
        if rg is not None:
            self.world.check_resource_group(sub, rg)
        items = [
            scale_set_json(self.world, ss, call.api_version)
            for ss in self.world.scale_sets.values()
            if ss.spec.subscription_id == sub and (rg is None or ss.spec.resource_group.lower() == rg.lower())
        ]
        return _json({"value": items})

    async def _h_scale_set_instance_view(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        if ss.spec.flexible:
            raise flex.not_allowed(ss, flex.SCALE_SET_INSTANCE_VIEW)
        return _json(scale_set_instance_view_json(self.world, ss, call.api_version))

    async def _h_put_scale_set(self, call: Call) -> web.Response:
        sub, rg, name = call.params["sub"], call.params["rg"], call.params["name"]
        self.world.check_resource_group(sub, rg)
        existing = self.world.scale_sets.get((sub, rg.lower(), name.lower()))
        bodies.check_preconditions(call, existing.etag if existing else None)
        body = bodies.validate_model_body(call, call.body, "virtualMachineScaleSets")
        if existing is None:
            ss, op = self.world.create_scale_set(sub, rg, name, body, call.now)
            status = 201
        else:
            ss = existing
            if str(body.get("location", ss.spec.location)).replace(" ", "").lower() != ss.spec.location.lower():
                raise invalid_parameter("Changing property 'location' is not allowed.", "location")
            new = copy.deepcopy(ss.resource)
            for key in ("sku", "properties", "zones", "tags", "identity", "plan"):
                if key in body:
                    new[key] = body[key]
            if "virtualMachineProfile" not in new["properties"]:
                raise invalid_parameter(
                    "Required parameter 'virtualMachineProfile' is missing (null).", "properties.virtualMachineProfile"
                )
            new = flex.check_model(ss, new)
            op = self.world.new_operation("PutVirtualMachineScaleSet", ss, call.now)
            self.world.apply_model(ss, new, call.now, op)
            status = 200
        return _json(
            scale_set_json(self.world, ss, call.api_version), status, self._lro_headers(call, op, with_location=False)
        )

    async def _h_patch_scale_set(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        bodies.check_preconditions(call, ss.etag)
        patch = bodies.validate_model_body(call, call.body, "virtualMachineScaleSetUpdate")
        patch.pop("location", None)
        new = flex.check_model(ss, bodies.merge_patch(ss.resource, patch))
        op = self.world.new_operation("PatchVirtualMachineScaleSet", ss, call.now)
        self.world.apply_model(ss, new, call.now, op)
        return _json(
            scale_set_json(self.world, ss, call.api_version), 200, self._lro_headers(call, op, with_location=False)
        )

    def instance_ids(self, call: Call, ss: ScaleSet, *, required: bool) -> list[str]:
        body = call.body if isinstance(call.body, dict) else {}
        ids = body.get("instanceIds")
        if ids is None:
            if required:
                raise invalid_parameter("Required parameter 'instanceIds' is missing (null).", "instanceIds")
            return [i.instance_id for i in ss.live_instances()]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
            raise invalid_parameter("The value of parameter 'instanceIds' is invalid.", "instanceIds")
        if ids == ["*"]:
            return [i.instance_id for i in ss.live_instances()]
        if ss.spec.flexible:  # instance ids are VM names (virtual-machine-scale-sets-perform-manual-upgrades.md)
            ids = [flex.canonical_name(ss, i) or i for i in ids]
        missing = [i for i in ids if i not in ss.instances or ss.instances[i].state == "Deleted"]
        if missing:
            names = ": a Flexible scale set's instance ids are its VM names" if ss.spec.flexible else ""
            raise ArmError(
                404,
                "NotFound",
                f"The entity was not found. Instance ids {missing} do not exist in '{ss.spec.name}'{names}.",
                target="instanceIds",
            )
        return list(dict.fromkeys(ids))

    async def _h_manual_upgrade(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        ids = self.instance_ids(call, ss, required=True)
        op = self.world.new_operation("UpdateInstances", ss, call.now, instance_ids=ids)
        self.world.start_instance_upgrades(ss, ids, call.now, op)
        return self.accepted(call, op)

    async def _h_reimage_scale_set(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        if ss.spec.flexible:
            raise flex.not_allowed(ss, flex.SCALE_SET_REIMAGE)
        ids = self.instance_ids(call, ss, required=False)
        op = self.world.new_operation("ReimageInstances", ss, call.now, instance_ids=ids)
        self.world.start_instance_upgrades(ss, ids, call.now, op, reimage=True)
        return self.accepted(call, op)

    # ----------------------------------------------------------- VMs
    async def _h_list_vms(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        query = call.request.query
        expand = query.get("$expand", "")
        select = query.get("$select", "")
        for name, value in (("$expand", expand), ("$select", select)):
            if value and value not in ("instanceView", "instanceView/statuses"):
                raise invalid_parameter(f"The value '{value}' of parameter '{name}' is invalid.", name)
        want_view = bool(expand or select)
        flt = query.get("$filter", "").strip()
        power_only = False
        latest_filter: bool | None = None
        if flt:
            m = re.fullmatch(r"properties/latestModelApplied\s+eq\s+(true|false)", flt, re.IGNORECASE)
            p = re.fullmatch(
                r"startswith\(\s*instanceView/statuses/code\s*,\s*'PowerState'\s*\)\s+eq\s+true", flt, re.IGNORECASE
            )
            if m:
                latest_filter = m.group(1).lower() == "true"
            elif p:
                power_only, want_view = True, True
            else:
                raise invalid_parameter(f"The value '{flt}' of parameter '$filter' is invalid.", "$filter")
        if ss.spec.flexible and want_view:
            raise flex.not_allowed(ss, flex.SCALE_SET_VM_GET)
        instances = ss.live_instances()
        if latest_filter is not None:
            instances = [i for i in instances if (i.model_generation == ss.model_generation) == latest_filter]

        def render(inst: Any) -> dict[str, Any]:
            return vm_json(self.world, ss, inst, call.api_version, expand=want_view, power_only=power_only)

        return paged(call, instances, self.scenario.page_size, render)

    async def _h_get_vm(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        expand = call.request.query.get("$expand", "") == "instanceView"
        if ss.spec.flexible and expand:
            raise flex.not_allowed(ss, flex.SCALE_SET_VM_GET)
        inst = self.world.get_instance(ss, call.params["iid"])
        return _json(vm_json(self.world, ss, inst, call.api_version, expand=expand))

    async def _h_get_vm_instance_view(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        if ss.spec.flexible:
            raise flex.not_allowed(ss, flex.SCALE_SET_VM_INSTANCE_VIEW)
        view = instance_view_json(self.world, ss, self.world.get_instance(ss, call.params["iid"]))
        return _json(api_fields.strip("virtualMachineScaleSetVMInstanceView", view, call.api_version))

    async def _h_reimage_vm(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        if ss.spec.flexible:
            raise flex.not_allowed(ss, flex.SCALE_SET_VM_REIMAGE)
        iid = call.params["iid"]
        self.world.get_instance(ss, iid)
        op = self.world.new_operation("ReimageVM", ss, call.now, instance_ids=[iid])
        self.world.start_instance_upgrades(ss, [iid], call.now, op, reimage=True)
        return self.accepted(call, op)

    # ------------------------------------------------------ rolling upgrades
    async def _h_rolling_latest(self, call: Call) -> web.Response:
        return _json(rolling_view.rolling_status(self.world, self._scale_set(call), call.api_version))

    async def _h_rolling_cancel(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        rolling.cancel(self.world, ss, call.now)
        op = self.world.new_operation("CancelRollingUpgrade", ss, call.now)
        self.world.at(call.now + 0.05, lambda t: self.world.finish_operation(op, t))
        return self.accepted(call, op)

    async def _h_rolling_start_os(self, call: Call) -> web.Response:
        ss = self._scale_set(call)
        op = self.world.new_operation("StartOSUpgrade", ss, call.now)
        rolling.start_os_upgrade(self.world, ss, call.now, op)
        return self.accepted(call, op)

    # ---------------------------------------------------- discovery metadata
    async def _metadata_endpoints(self, request: web.Request) -> web.Response:
        if not request.query.get("api-version"):
            error = ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
            return _json(error.body(), 400)
        base = str(request.url.origin())
        audience = f"{base}/" if self.profile == "azurestack" else "https://management.core.windows.net/"
        login = (
            "https://adfs.local.azurestack.external/adfs/"
            if self.profile == "azurestack"
            else ("https://login.microsoftonline.com/")
        )
        return _json(
            {
                "galleryEndpoint": f"{base}/gallery/",
                "graphEndpoint": "https://graph.local.azurestack.external/"
                if self.profile == "azurestack"
                else "https://graph.windows.net/",
                "portalEndpoint": f"{base}/portal/",
                "authentication": {"loginEndpoint": login, "audiences": [audience]},
            }
        )

    # ---------------------------------------------------------- control API
    async def _control(self, request: web.Request) -> web.StreamResponse:
        peer = request.remote or ""
        if peer not in ("127.0.0.1", "::1", "") and not peer.startswith("127."):
            return _json({"error": "the control API answers loopback clients only"}, 403)
        tail = request.match_info["tail"].strip("/")
        await request.read()  # buffered now, so the handlers' reads cannot yield after they take the time
        try:
            return await self._control_dispatch(request, tail)
        except (ValueError, KeyError, TypeError, ScenarioError) as exc:
            return _json({"error": str(exc)}, 400)
        except ArmError as err:
            return _json(err.body(), err.status)

    async def _control_body(self, request: web.Request) -> Any:
        raw = await request.text()
        if not raw.strip():
            return {}
        if request.content_type == "application/json":
            return json.loads(raw)
        return yaml.safe_load(raw)

    async def _control_dispatch(self, request: web.Request, tail: str) -> web.StreamResponse:
        method = request.method
        now = self.world.advance()
        if tail == "audit" and method == "GET":
            since = int(request.query.get("since", "0"))
            return _json({"events": self.world.audit[since:], "next": len(self.world.audit)})
        if tail == "state" and method == "GET":
            return _json(self.world.snapshot())
        if tail == "scenario" and method in ("POST", "PUT"):
            self.faults.clear()
            self._load(parse_scenario(await self._control_body(request)))
            return _json({"loaded": True, "scaleSets": len(self.world.scale_sets)})
        if tail == "reset" and method == "POST":
            self.faults.clear()
            self._load(self.initial_scenario)
            return _json({"reset": True})
        if tail == "faults":
            if method == "POST":
                rule = FaultRule.from_json(await self._control_body(request))
                self.faults.add(rule)
                return _json(rule.to_json(), 201)
            if method == "GET":
                return _json({"faults": [r.to_json() for r in self.faults.rules]})
            if method == "DELETE":
                self.faults.clear()
                return _json({"cleared": True})
        if tail == "time-scale":
            if method in ("PUT", "POST"):
                body = await self._control_body(request)
                self.clock.set_scale(float(body["scale"]))
            return _json({"scale": self.clock.scale, "now": self.clock.now()})
        if tail == "instances/fail" and method == "POST":
            body = await self._control_body(request)
            ss = self.world.get_scale_set(body["subscriptionId"], body["resourceGroup"], body["scaleSet"])
            effect = str(body.get("effect", "failed"))
            if effect not in ("failed", "unhealthy"):
                raise ValueError("effect must be 'failed' or 'unhealthy'")
            self.world.force_instance_effect(ss, str(body["instanceId"]), effect)
            return _json({"armed": True})
        if tail == "instances/health" and method == "POST":
            body = await self._control_body(request)
            ss = self.world.get_scale_set(body["subscriptionId"], body["resourceGroup"], body["scaleSet"])
            self.world.set_health(ss, str(body["instanceId"]), str(body["health"]), now)
            return _json({"health": body["health"]})
        if tail == "operations" and method == "GET":
            return _json({"operations": [self._op_json(op) for op in self.world.operations.values()]})
        if tail == "operations/preempt" and method == "POST":
            body = await self._control_body(request)
            if "operationId" in body:
                ops = [self.world.preempt(str(body["operationId"]), now)]
            else:
                ss = self.world.get_scale_set(body["subscriptionId"], body["resourceGroup"], body["scaleSet"])
                ops = [
                    self.world.preempt(op.id, now)
                    for op in list(self.world.operations.values())
                    if op.resource_id == ss.resource_id and op.status == "InProgress"
                ]
            return _json({"preempted": [op.id for op in ops]})
        if tail == "images/marketplace" and method in ("POST", "DELETE"):
            body = await self._control_body(request)
            args = (
                str(body.get("location", self.scenario.location)),
                str(body["publisher"]),
                str(body["offer"]),
                str(body["sku"]),
                str(body["version"]),
            )
            if method == "POST":
                self.world.add_marketplace_version(*args)
                return _json({"added": args[-1]})
            return _json({"removed": self.world.remove_marketplace_version(*args)})
        if tail == "images/bad" and method == "POST":
            body = await self._control_body(request)
            self.world.bad_versions[str(body["version"])] = str(body.get("effect", "unhealthy"))
            return _json({"bad": sorted(self.world.bad_versions)})
        if tail == "throttling":
            if method in ("POST", "PUT"):
                body = await self._control_body(request)
                if "enabled" in body:
                    self.throttler.config.enabled = bool(body["enabled"])
                if body.get("reset"):
                    self.throttler.reset()
            return _json(
                {
                    "enabled": self.throttler.config.enabled,
                    "throttled": self.throttler.throttled,
                    "throttledBy": dict(self.throttler.throttled_by),
                }
            )
        return _json({"error": f"no control endpoint {method} /_emulator/{tail}"}, 404)

    def _op_json(self, op: Operation) -> dict[str, Any]:
        return {
            "id": op.id,
            "name": op.name,
            "status": op.status,
            "resourceId": op.resource_id,
            "startTime": op.started,
            "endTime": op.ended,
            "instanceIds": op.instance_ids,
            "error": op.error,
        }
