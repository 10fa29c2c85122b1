"""Run one schedule against the real system and check it: both emulators here, the operator as a process.

Each schedule gets a fresh world (its own emulators, scale set and ScaleSetImage) and a fresh operator
process, so nothing leaks from one schedule into the next; the operator's start is most of a schedule's
cost (see ``--help`` of the CLI for the numbers). The run has three parts:

1. start: the scale set runs OLD; the ScaleSetImage (``chaos`` in ``default``) asks for the schedule's
   first target;
2. the actions, each at its real-time offset (kills and their restarts run in the background);
3. settling: faults cleared, the operator alive, the resource present and not paused; wait until the
   status settles (Succeeded, Failed or Paused for the current generation) or ``settle`` seconds pass.

Then the invariants (``invariants.check``) run over the audit, the recorded status versions, the Azure
state captured at each Succeeded, and the operator's log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaleset_testbed import worlds
from scaleset_testbed.azure.faults import FaultRule
from scaleset_testbed.kube import WriteFault
from scaleset_testbed.netcut import Relay
from scaleset_testbed.system import (
    LEASE_NAME,
    Election,
    Env,
    OperatorProcess,
    OperatorSettings,
    emulators,
    wait_until,
)
from scaleset_testbed.worlds import CR, GROUP, LOCATION, OFFER, PLURAL, PUBLISHER, RG, SKU, SUB, TOKEN, VERSION, VMSS

from . import invariants
from .invariants import ACTOR, Observation, Violation
from .schedule import BAD, NEW, NEWER, NEWEST, OLD, Action, Schedule

NAME = "chaos"
API_VERSION = "2026-04-01"
TIME_SCALE = 20.0
SETTINGS = OperatorSettings(poll_interval=0.1, tick=0.1, resync_interval=1.0)
# Failover worlds: two replicas electing a leader on short timings, so that a takeover fits in a schedule.
ELECTION = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.25}
REPLICAS = ("a", "b")
LOST_LEADERSHIP = "leader election lost"


def replica_settings(identity: str) -> OperatorSettings:
    election = Election(
        identity,
        lease_name=LEASE_NAME,
        per_start=True,  # a restarted replica is a new candidate and waits the Lease out, as in the chart
        lease_duration=ELECTION["lease_duration"],
        renew_deadline=ELECTION["renew_deadline"],
        retry_period=ELECTION["retry_period"],
    )
    return OperatorSettings(
        poll_interval=SETTINGS.poll_interval,
        tick=SETTINGS.tick,
        resync_interval=SETTINGS.resync_interval,
        election=election,
    )


SETTLED_PHASES = frozenset({"Succeeded", "Failed", "Paused"})


@dataclass
class Result:
    seed: int
    kills: int
    violations: list[Violation]
    wall: float
    end_phase: str
    actions: int
    error: str | None = None
    saved: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        names = invariants.by_invariant(self.violations)
        verdict = "ok" if not self.violations and not self.error else "VIOLATION" if self.violations else "ERROR"
        detail = ", ".join(f"{k}x{v}" for k, v in sorted(names.items()))
        if self.error:
            detail = (detail + "; " if detail else "") + f"error: {self.error}"
        return (
            f"seed {self.seed:5d} {verdict:9s} {self.wall:5.1f}s actions={self.actions} kills={self.kills}"
            f" end={self.end_phase or '-'}" + (f"  {detail}" if detail else "")
        )


def namespace_of(schedule: Schedule) -> str:
    """Each schedule's ScaleSetImage lives in its own namespace, and rolls its own scale set."""
    return f"chaos-{schedule.seed}"


def vmss_of(schedule: Schedule) -> str:
    return f"{VMSS}-{schedule.seed}"


def scenario(schedule: Schedule) -> dict[str, Any]:
    world = schedule.world
    return worlds.scenario(
        {
            RG: {
                vmss_of(schedule): worlds.flex_scale_set(
                    world.capacity, version=world.version, platformFaultDomainCount=world.update_domains
                )
                if world.flexible
                else worlds.scale_set(
                    world.capacity, world.update_domains, min(3, world.update_domains), version=world.version
                )
            }
        },
        versions=[OLD, NEW, NEWER, BAD],
        badImageVersions=[BAD],
        timing={
            # At x20 a domain takes about 0.6 real seconds, so a 2-4 domain rollout overlaps the actions.
            "instanceUpgradeSeconds": 10.0,
            "jitterSeconds": 2.0,
            "modelUpdateSeconds": 1.0,
            "instanceCreateSeconds": 6.0,
            "healthGraceSeconds": 0.0,
        },
        throttling={"enabled": False},
        seed=schedule.seed,
    )


def manifest(schedule: Schedule, version: str) -> dict[str, Any]:
    return worlds.manifest(
        NAME,
        namespace=namespace_of(schedule),
        vmss=vmss_of(schedule),
        version=version,
        rollout={"domainTimeout": "60s", "maxUnhealthyInstances": 0},
    )


class Campaign:
    """One schedule's run: the system, the recorders, and the actions."""

    def __init__(
        self,
        env: Env,
        schedule: Schedule,
        operators: list[OperatorProcess],
        relays: dict[str, Relay] | None = None,
    ) -> None:
        self.env = env
        self.schedule = schedule
        self.namespace = namespace_of(schedule)
        self.vmss = vmss_of(schedule)
        self.path = worlds.vmss_path(name=self.vmss)
        self.prefix = self.path.lower()
        self.snapshots: list[dict[str, Any]] = []
        self.succeeded: list[dict[str, Any]] = []
        self.operators = operators
        self.relays = relays or {}
        self.restarting: set[str] = set()  # replicas the campaign stopped on purpose and restarts itself
        self.kills = 0
        self.losses = 0  # replicas that lost the Lease and exited, as they must (restarted as standbys)
        self.failovers = 0
        self.leases: list[dict[str, Any]] = []
        self.log_from = {p.name: (p.log_path.stat().st_size if p.log_path.exists() else 0) for p in operators}
        self.unexpected_exits: list[str] = []
        self.background: list[asyncio.Task[None]] = []
        self.t0 = time.monotonic()
        self.action_errors: list[str] = []
        self.unspent: list[dict[str, Any]] = []
        if len(operators) > 1:
            holder = env.lease_holder(LEASE_NAME) or ""
            self.leases.append({"time": round(env.azure.world.advance(), 6), "holder": holder})
        env.kube.emulator.listeners.append(self._on_commit)

    # --- recording ------------------------------------------------------------------------------------
    def _on_commit(self, event: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Lease" and meta.get("name") == LEASE_NAME and len(self.operators) > 1:
            holder = str((obj.get("spec") or {}).get("holderIdentity") or "") if event != "DELETED" else ""
            if not self.leases or self.leases[-1]["holder"] != holder:
                self.leases.append({"time": round(self.env.azure.world.advance(), 6), "holder": holder})
            return
        if meta.get("name") != NAME or meta.get("namespace") != self.namespace or obj.get("kind") != worlds.KIND:
            return
        now = self.env.azure.world.advance()
        status = obj.get("status") or {}
        previous = (self.snapshots[-1]["object"].get("status") or {}) if self.snapshots else {}
        self.snapshots.append(
            {"time": round(now, 6), "real": round(time.monotonic() - self.t0, 4), "event": event, "object": obj}
        )
        if (
            status.get("phase") == "Succeeded"
            and event != "DELETED"
            and (previous.get("phase") != "Succeeded" or previous.get("target") != status.get("target"))
        ):
            mine = [
                ss
                for ss in self.env.azure.world.snapshot()["scaleSets"]
                if ss["resourceGroup"] == RG and ss["name"] == self.vmss
            ]
            self.succeeded.append(
                {"time": round(now, 6), "status": status, "instances": mine[0]["instances"] if mine else []}
            )

    def vm_names(self) -> list[str]:
        """The live instances' ids in name order (a Flexible set's VM names)."""
        live = [i for i in self.initial_instances() if str(i.get("state", "")).lower() not in ("deleting", "deleted")]
        return sorted(str(i.get("instanceId") or i.get("name")) for i in live)

    def initial_instances(self) -> list[dict[str, Any]]:
        for ss in self.env.azure.world.snapshot()["scaleSets"]:
            if ss["name"] == self.vmss:
                return list(ss["instances"])
        return []

    # --- the API calls actions make -------------------------------------------------------------------
    async def arm(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Another actor's call on the scale set; the injected faults are meant for the operator, not for it."""
        faults, self.env.azure.faults.rules = self.env.azure.faults.rules, []
        try:
            return await self._arm(method, body)
        finally:
            self.env.azure.faults.rules = faults + self.env.azure.faults.rules

    async def _arm(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.env.azure.url}{self.path}?api-version={API_VERSION}"
        async with self.env.http.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}", "x-ms-client-request-id": f"{ACTOR}-{uuid.uuid4()}"},
        ) as response:
            data: dict[str, Any] = await response.json(content_type=None) or {}
            if response.status >= 400:
                raise RuntimeError(f"ARM {method} answered {response.status}: {data}")
            return data

    async def control(self, method: str, path: str, body: dict[str, Any]) -> None:
        async with self.env.http.request(method, f"{self.env.azure.url}/_emulator/{path}", json=body) as response:
            if response.status >= 400:
                raise RuntimeError(f"control {path} answered {response.status}: {await response.text()}")

    def resource(self) -> dict[str, Any] | None:
        return self.env.kube.get_object(CR, NAME, self.namespace)

    async def delete(self) -> None:
        url = f"{self.env.kube.url}/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}/{NAME}"
        async with self.env.http.delete(url) as response:
            if response.status not in (200, 202):
                raise RuntimeError(f"delete answered {response.status}")

    # --- the operator ---------------------------------------------------------------------------------
    @property
    def operator(self) -> OperatorProcess:
        return self.operators[0]

    def leader(self) -> OperatorProcess | None:
        """The replica that holds the Lease now (the only one, without leader election)."""
        if len(self.operators) == 1:
            return self.operators[0]
        holder = self.leases[-1]["holder"] if self.leases else ""
        return next((p for p in self.operators if p.settings.election and p.settings.election.owns(holder)), None)

    def _lost_leadership(self, process: OperatorProcess) -> bool:
        """Whether the process that just exited said it lost the Lease. Read from where that process started:
        a replica that lost the Lease late in one schedule may take seconds to wind down (kopf stopping with its
        API connection cut) and exit during the next."""
        with contextlib.suppress(OSError), process.log_path.open("rb") as handle:
            handle.seek(process.log_offset)
            return LOST_LEADERSHIP in handle.read().decode("utf-8", errors="replace")
        return False

    def check_operator(self) -> None:
        for process in self.operators:
            proc = process.proc
            if proc is None or proc.returncode is None or process.name in self.restarting:
                continue
            if len(self.operators) > 1 and proc.returncode == 1 and self._lost_leadership(process):
                self.losses += 1  # it lost the Lease and stopped, as it must: it comes back as a standby
            else:
                self.unexpected_exits.append(f"{process.name} exited by itself with {proc.returncode}")
            self.restarting.add(process.name)
            self.background.append(asyncio.create_task(self._restart(process, 0.0)))

    async def _restart(self, process: OperatorProcess, after: float) -> None:
        await asyncio.sleep(after)
        await process.start()
        self.log_from.setdefault(process.name, 0)
        self.restarting.discard(process.name)

    async def _kill(self, restart_after: float, process: OperatorProcess | None = None) -> None:
        process = process or self.leader()
        if process is None or process.name in self.restarting:
            return
        self.restarting.add(process.name)
        self.kills += 1
        await process.kill()
        await self._restart(process, restart_after)

    async def _kill_after_write(self, restart_after: float) -> None:
        start = len(self.env.audit())
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            events = self.env.audit()[start:]
            if any(
                e.get("type") == "request" and e.get("method") != "GET" and invariants.operator_request(e, self.prefix)
                for e in events
            ):
                break
            await asyncio.sleep(0.002)
        await self._kill(restart_after)

    async def _partition_leader(self, seconds: float) -> None:
        leader = self.leader()
        if leader is None:
            return
        relay = self.relays[leader.name]
        self.failovers += 1
        relay.cut()
        try:
            await asyncio.sleep(seconds)
        finally:
            relay.heal()

    async def _freeze_leader(self, seconds: float) -> None:
        leader = self.leader()
        if leader is None or leader.proc is None or leader.proc.returncode is not None:
            return
        self.failovers += 1
        with contextlib.suppress(ProcessLookupError):
            leader.proc.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(seconds)
        finally:
            with contextlib.suppress(ProcessLookupError):
                leader.proc.send_signal(signal.SIGCONT)

    # --- actions --------------------------------------------------------------------------------------
    async def perform(self, action: Action) -> None:
        kind, args = action.kind, action.args
        ss = {"subscriptionId": SUB, "resourceGroup": RG, "scaleSet": self.vmss}
        if "path" in args or kind in ("throttle", "error5xx", "drop", "slow", "dropAfter"):
            self.env.azure.faults.add(FaultRule.from_json(args))
        elif kind == "failInstance":
            instance_id = str(args["instanceId"])
            if self.schedule.world.flexible:  # the n-th VM by name: Flex VMs are known by name only
                names = self.vm_names()
                instance_id = names[int(instance_id) % len(names)] if names else instance_id
            await self.control("POST", "instances/fail", {**ss, "instanceId": instance_id, "effect": args["effect"]})
        elif kind == "preempt":
            await self.control("POST", "operations/preempt", ss)
        elif kind == "publish":
            await self.control(
                "POST",
                "images/marketplace",
                {"location": LOCATION, "publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": NEWEST},
            )
        elif kind in ("pause", "resume"):
            if self.resource() is not None:
                await self.env.patch_spec(NAME, {"rollout": {"paused": kind == "pause"}}, self.namespace)
        elif kind == "retarget":
            if self.resource() is not None:
                await self.env.patch_spec(
                    NAME, {"image": {"marketplace": worlds.image_reference(args["version"])}}, self.namespace
                )
        elif kind == "delete":
            if self.resource() is not None:
                await self.delete()
        elif kind == "recreate":
            await self.recreate(args["version"])
        elif kind == "loseStatusWrite":
            self.env.kube.emulator.write_faults.append(
                WriteFault(rf"/namespaces/{self.namespace}/{PLURAL}/{NAME}/status$", after=bool(args["after"]))
            )
        elif kind == "actorImage":
            image = {"imageReference": worlds.image_reference(args["version"])}
            await self.arm("PATCH", {"properties": {"virtualMachineProfile": {"storageProfile": image}}})
        elif kind == "actorField":
            if args["field"] == "tags":
                await self.arm("PATCH", {"tags": {"chaos": args["value"]}})
            else:
                data = base64.b64encode(str(args["value"]).encode()).decode()
                await self.arm("PATCH", {"properties": {"virtualMachineProfile": {"userData": data}}})
        elif kind == "scale":
            current = int(((await self.arm("GET")).get("sku") or {}).get("capacity", 0))
            await self.arm("PATCH", {"sku": {"capacity": max(2, min(10, current + int(args["delta"])))}})
        elif kind == "kill":
            self.background.append(asyncio.create_task(self._kill(float(args["restartAfter"]))))
        elif kind == "killAfterWrite":
            self.background.append(asyncio.create_task(self._kill_after_write(float(args["restartAfter"]))))
        elif kind == "killLeader":
            self.failovers += 1
            self.background.append(asyncio.create_task(self._kill(float(args["restartAfter"]))))
        elif kind == "partitionLeader":
            self.background.append(asyncio.create_task(self._partition_leader(float(args["seconds"]))))
        elif kind == "freezeLeader":
            self.background.append(asyncio.create_task(self._freeze_leader(float(args["seconds"]))))
        else:
            raise ValueError(f"unknown action {kind}")

    async def recreate(self, version: str) -> None:
        # A deletion held by the operator's finalizer is still under way: wait for it (bounded).
        with contextlib.suppress(TimeoutError):
            await wait_until(lambda: self.resource() is None, within=5.0, what="the deletion to finish")
        if self.resource() is None:
            await self.env.create(manifest(self.schedule, version))

    async def retire(self) -> None:
        """Delete this schedule's ScaleSetImage before the next schedule (finalizers dropped after 2 s)."""
        if self.resource() is None:
            return
        with contextlib.suppress(Exception):
            await self.delete()
        with contextlib.suppress(TimeoutError):
            await wait_until(lambda: self.resource() is None, within=2.0, what="the deletion")
            return
        url = f"{self.env.kube.url}/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}/{NAME}"
        async with self.env.http.patch(
            url,
            json={"metadata": {"finalizers": None}},
            headers={"Content-Type": "application/merge-patch+json"},
        ):
            pass

    async def settle(self, within: float) -> str:
        # Faults that never met a matching request (recorded, so a quiet run can be told from a lucky one).
        self.unspent = [r.to_json() for r in self.env.azure.faults.rules] + [
            {"kube": f.path.pattern, "after": f.after} for f in self.env.kube.emulator.write_faults
        ]
        self.env.azure.faults.clear()
        self.env.kube.emulator.write_faults.clear()
        for task in self.background:
            with contextlib.suppress(Exception):
                await task
        self.background.clear()
        self.check_operator()
        for task in self.background:
            await task
        obj = self.resource()
        if obj is None:
            await self.recreate(NEW)
        elif (obj.get("spec") or {}).get("rollout", {}).get("paused"):
            await self.env.patch_spec(NAME, {"rollout": {"paused": False}}, self.namespace)
        deadline = time.monotonic() + within
        steady_since: float | None = None
        phase = ""
        while time.monotonic() < deadline:
            self.check_operator()
            obj = self.resource() or {}
            status = obj.get("status") or {}
            phase = str(status.get("phase") or "")
            settled = phase in SETTLED_PHASES and status.get("observedGeneration") == (obj.get("metadata") or {}).get(
                "generation"
            )
            if settled:
                steady_since = steady_since or time.monotonic()
                if time.monotonic() - steady_since > 0.3:
                    return phase
            else:
                steady_since = None
            await asyncio.sleep(0.05)
        return f"{phase or 'none'}(unsettled)"


class Station:
    """The emulators and one operator process, kept across the schedules a worker runs.

    The operator's start (about 2 s of Python imports and kopf's start-up) would otherwise dominate a
    schedule. Between schedules the previous ScaleSetImage is deleted (and, if the operator does not let go
    of it within 2 s, its finalizers are removed), and the Azure world is replaced through the control API
    (``/_emulator/scenario``: a new audit, faults cleared). Each schedule uses its own namespace and scale
    set name, so a request the operator still makes about an earlier schedule's resources cannot be mistaken
    for this one's. A schedule that kills the operator restarts it; ``fresh=True`` starts a new operator
    (and new emulators) for every schedule instead.
    """

    def __init__(self, workdir: Path, *, fresh: bool = False) -> None:
        self.workdir = workdir
        self.fresh = fresh
        self.stack = contextlib.AsyncExitStack()
        self.env: Env | None = None
        self.operators: list[OperatorProcess] = []  # one operator, or two replicas (failover worlds)
        self.relays: dict[str, Relay] = {}  # each replica's way to the Kubernetes API, which a schedule can cut
        self.previous: Campaign | None = None

    async def __aenter__(self) -> Station:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _stop_operators(self) -> None:
        for process in self.operators:
            if process.proc is not None and process.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.proc.send_signal(signal.SIGCONT)  # a frozen replica must be able to stop
            await process.stop()
        self.operators = []
        for relay in self.relays.values():
            await relay.stop()
        self.relays = {}

    async def close(self) -> None:
        await self._stop_operators()
        await self.stack.aclose()
        self.env = None
        self.previous = None

    async def _prepare(self, schedule: Schedule) -> tuple[Env, list[OperatorProcess]]:
        if self.fresh:
            await self.close()
        if self.env is None:
            self.env = await self.stack.enter_async_context(emulators(scenario(schedule), TIME_SCALE, self.workdir))
        env = self.env
        if self.previous is not None:
            await self.previous.retire()
            self.previous = None
        async with env.http.post(f"{env.azure.url}/_emulator/scenario", json=scenario(schedule)) as response:
            if response.status != 200:
                raise RuntimeError(f"loading the scenario: {response.status} {await response.text()}")
        env.kube.emulator.write_faults.clear()
        if len(self.operators) != schedule.world.replicas:
            await self._stop_operators()  # a single operator and a pair must never run at once
        if not self.operators and schedule.world.replicas == 1:
            self.operators = [OperatorProcess(env, SETTINGS, name="operator")]
        elif not self.operators:
            port = int(env.kube.url.rsplit(":", 1)[1])
            for identity in REPLICAS:
                name = f"replica-{identity}"
                self.relays[name] = await Relay("127.0.0.1", port).start()
                self.operators.append(
                    OperatorProcess(env, replica_settings(identity), name=name, kube_url=self.relays[name].url)
                )
        for process in self.operators:
            if not process.alive():
                await process.start()
        if len(self.operators) > 1:
            elections = [p.settings.election for p in self.operators if p.settings.election is not None]
            await wait_until(
                lambda: any(e.owns(env.lease_holder()) for e in elections), within=30, what="a replica to lead"
            )
        return env, self.operators

    async def run(self, schedule: Schedule, *, settle: float = 8.0) -> tuple[Result, Observation]:
        started = time.monotonic()
        error: str | None = None
        end_phase = ""
        env, operators = await self._prepare(schedule)
        campaign = Campaign(env, schedule, operators, self.relays)
        self.previous = campaign
        initial = campaign.initial_instances()
        try:
            campaign.t0 = time.monotonic()
            await env.create(manifest(schedule, schedule.world.target))
            for action in schedule.actions:
                await asyncio.sleep(max(0.0, campaign.t0 + action.at - time.monotonic()))
                campaign.check_operator()
                try:
                    await campaign.perform(action)
                except Exception as exc:  # an action that cannot apply now (e.g. the instance is gone)
                    campaign.action_errors.append(f"{action.describe()}: {exc}")
            await asyncio.sleep(max(0.0, campaign.t0 + schedule.end + 0.3 - time.monotonic()))
            end_phase = await campaign.settle(settle)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            for task in campaign.background:
                task.cancel()
            campaign.background.clear()
            env.kube.emulator.listeners.remove(campaign._on_commit)
        audit = [dict(e) for e in env.audit()]
        log = ""
        for process in operators:
            with contextlib.suppress(OSError), process.log_path.open("rb") as handle:
                handle.seek(campaign.log_from.get(process.name, 0))
                text = handle.read().decode("utf-8", errors="replace")
                log += text if len(operators) == 1 else f"===== {process.name}\n{text}"
        observation = Observation(
            scale=TIME_SCALE,
            prefix=campaign.prefix,
            audit=audit,
            snapshots=campaign.snapshots,
            initial_instances=initial,
            succeeded=campaign.succeeded,
            log=log,
            unexpected_exits=campaign.unexpected_exits,
            leases=campaign.leases,
        )
        result = Result(
            seed=schedule.seed,
            kills=campaign.kills,
            violations=invariants.check(observation),
            wall=time.monotonic() - started,
            end_phase=end_phase,
            actions=len(schedule.actions),
            error=error,
            extra={
                "actionErrors": campaign.action_errors,
                "unspentFaults": campaign.unspent,
                "replicas": len(operators),
                "failovers": campaign.failovers,
                "leadershipLosses": campaign.losses,
                "leaseChanges": max(0, len(campaign.leases) - 1),
            },
        )
        return result, observation


async def run_schedule(
    schedule: Schedule, workdir: Path, *, settle: float = 8.0, fresh: bool = True
) -> tuple[Result, Observation]:
    """Run one schedule on a station of its own."""
    async with Station(workdir, fresh=fresh) as station:
        return await station.run(schedule, settle=settle)


def save(result: Result, schedule: Schedule, observation: Observation, out: Path) -> Path:
    """Write what reproduces and explains a schedule's run under ``out/seed-<n>/``."""
    folder = out / f"seed-{schedule.seed}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schedule.json").write_text(json.dumps(schedule.to_json(), indent=2), encoding="utf-8")
    (folder / "violations.json").write_text(
        json.dumps(
            {"error": result.error, "violations": [v.to_json() for v in result.violations], **result.extra}, indent=2
        ),
        encoding="utf-8",
    )
    (folder / "audit.json").write_text(json.dumps(observation.audit), encoding="utf-8")
    (folder / "status-history.json").write_text(
        json.dumps({"snapshots": observation.snapshots, "succeeded": observation.succeeded}), encoding="utf-8"
    )
    (folder / "operator.log").write_text(observation.log, encoding="utf-8")
    facts = {
        "scale": observation.scale,
        "prefix": observation.prefix,
        "initialInstances": observation.initial_instances,
        "unexpectedExits": observation.unexpected_exits,
        "leases": observation.leases,
    }
    (folder / "world.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
    return folder


def load(folder: Path) -> Observation:
    """A saved run's observation, to check it again (after changing a check) without running it again."""
    facts = json.loads((folder / "world.json").read_text(encoding="utf-8"))
    history = json.loads((folder / "status-history.json").read_text(encoding="utf-8"))
    return Observation(
        scale=float(facts["scale"]),
        prefix=str(facts["prefix"]),
        audit=json.loads((folder / "audit.json").read_text(encoding="utf-8")),
        snapshots=history["snapshots"],
        initial_instances=facts["initialInstances"],
        succeeded=history["succeeded"],
        log=(folder / "operator.log").read_text(encoding="utf-8"),
        unexpected_exits=facts["unexpectedExits"],
        leases=facts.get("leases", []),
    )
