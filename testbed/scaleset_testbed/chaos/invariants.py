"""The safety invariants, checked after a schedule from what the emulators recorded.

Inputs (an ``Observation``, all JSON): the Azure emulator's audit (request and instance events, in time
order, stamped in emulated seconds), every stored version of the ScaleSetImage (``snapshots``, recorded by a
Kubernetes-emulator listener at the moment it was committed, stamped on the same emulated clock), the Azure
state captured each time the status turned ``Succeeded``, the scale set's instances at the start, and the
operator's log. Each check returns ``Violation`` records: invariant name, emulated time, evidence.

Why snapshots from a commit listener rather than polling every 100 ms: at a time scale of x20, 100 ms of
real time is 2 emulated seconds, long enough to miss a whole domain; the listener sees every version.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

# Names of the invariants (also the keys of the campaign's summary).
ONE_DOMAIN = "one-domain-at-a-time"
DOMAIN_ORDER = "previous-domain-done-first"
NO_SAME_IMAGE = "no-upgrade-to-running-image"
INSTALLS_TARGET = "installs-status-target"
SUCCEEDED_TRUE = "succeeded-means-all-on-target"
NO_WRITE_DELETED = "no-write-after-delete"
PAUSE_HOLDS = "no-new-domain-while-paused"
NO_HOT_LOOP = "no-hot-retry-loop"
NO_TRACEBACK = "no-traceback-in-log"
OPERATOR_ALIVE = "operator-did-not-exit"
MODEL_WRITE_TARGET = "model-write-is-target"
LEASE_HOLDER_WRITES = "writes-only-by-the-lease-holder"
INVARIANTS = (
    ONE_DOMAIN,
    MODEL_WRITE_TARGET,
    DOMAIN_ORDER,
    NO_SAME_IMAGE,
    INSTALLS_TARGET,
    SUCCEEDED_TRUE,
    NO_WRITE_DELETED,
    PAUSE_HOLDS,
    NO_HOT_LOOP,
    NO_TRACEBACK,
    OPERATOR_ALIVE,
    LEASE_HOLDER_WRITES,
)

# Hot retry loop: more than HOT_LOOP_COUNT identical failing writes (same method, path and body, answered
# >= 400 or not at all) within HOT_LOOP_WINDOW real seconds. The SDK itself sends at most 4 attempts of
# one call (1 + 3 status retries, backing off 0.8 s, 1.6 s, ...), and the campaign injects at most 5 faults per
# rule, so 7 in 3 s is beyond any honest retry policy, while a loop at the operator's 0.1 s tick makes 30.
HOT_LOOP_COUNT = 6
HOT_LOOP_WINDOW = 3.0
# A pause that lands while the operator is between deciding to start a domain and sending the call is not a
# violation: the domain must have started (manualupgrade sent) no later than this many real seconds after.
PAUSE_GRACE = 0.25
# The operator records a step in the status right after the call; a plan or target written within this many
# real seconds after a manualupgrade is taken as that call's intent (see Timeline.intent).
LOOKAHEAD = 1.0
# The x-ms-client-request-id prefix of the calls other actors (the campaign) make on the scale set.
ACTOR = "chaos-actor"
TRACEBACK = "Traceback (most recent call last)"
GONE_STATES = frozenset({"Deleting", "Deleted"})


@dataclass
class Violation:
    invariant: str
    time: float  # emulated seconds (the audit's clock); -1 when not tied to a moment
    evidence: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Observation:
    scale: float  # emulated seconds per real second
    prefix: str  # the scale set's ARM path, lower case: requests under it are this rollout's
    audit: list[dict[str, Any]]
    snapshots: list[dict[str, Any]]  # {"time", "event", "object"}
    initial_instances: list[dict[str, Any]]  # /_emulator/state instances at the start
    succeeded: list[dict[str, Any]] = field(default_factory=list)  # {"time", "status", "instances"}
    log: str = ""
    unexpected_exits: list[str] = field(default_factory=list)
    health_extension: bool = True
    leases: list[dict[str, Any]] = field(default_factory=list)  # {"time", "holder"}: the Lease as committed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ helpers
def _version_of(image: dict[str, Any] | None) -> str | None:
    if not image:
        return None
    market = image.get("marketplace")
    if isinstance(market, dict):
        return str(market.get("version"))
    for key in ("galleryImageVersionId", "managedImageId", "vhdUri"):
        if image.get(key):
            return str(image[key])
    return None


def target_version(status: dict[str, Any]) -> str | None:
    """The version the status says is being rolled out (the rollback's image while one runs)."""
    rollback = status.get("rollback") or {}
    if rollback.get("inProgress"):
        return _version_of(rollback.get("target"))
    return _version_of((status.get("target") or {}).get("image"))


class Timeline:
    """The ScaleSetImage's stored versions, looked up by emulated time."""

    def __init__(self, snapshots: list[dict[str, Any]]) -> None:
        self.snapshots = snapshots

    def at(self, t: float) -> dict[str, Any] | None:
        """The last stored version at or before ``t`` (None before the first, or while deleted)."""
        found: dict[str, Any] | None = None
        for snap in self.snapshots:
            if snap["time"] > t:
                break
            found = snap
        if found is None or found["event"] == "DELETED":
            return None
        return found

    def status_at(self, t: float) -> dict[str, Any]:
        snap = self.at(t)
        return dict((snap or {}).get("object", {}).get("status") or {})

    def spec_at(self, t: float) -> dict[str, Any]:
        snap = self.at(t)
        return dict((snap or {}).get("object", {}).get("spec") or {})

    def _later(self, t: float, within: float) -> list[dict[str, Any]]:
        """The versions stored within ``within`` after ``t`` of the object that was there at ``t`` (a write
        made for one object is never judged by the status of the object re-created under its name)."""
        now = self.at(t)
        uid = (now or {}).get("object", {}).get("metadata", {}).get("uid")
        return [
            s
            for s in self.snapshots
            if t <= s["time"] <= t + within
            and s["event"] != "DELETED"
            and (uid is None or s["object"].get("metadata", {}).get("uid") == uid)
        ]

    def intent(self, t: float, ids: list[str], within: float) -> dict[str, Any]:
        """The status that a manualupgrade sent at ``t`` for ``ids`` acted on.

        The operator writes the step (the plan, the target, the operation) right after it sends the call, so
        the first version within ``within`` emulated seconds whose ``operation.instanceIds`` are these ids
        tells what it meant; without one (status write lost, operator killed), the status at ``t``, or if
        that has no plan or target yet, the first later version that has both.
        """
        later = self._later(t, within)
        for snap in later:
            status = snap["object"].get("status") or {}
            if sorted((status.get("operation") or {}).get("instanceIds") or []) == sorted(ids):
                return dict(status)
        now = self.status_at(t)
        if now.get("domains") and now.get("target"):
            return now
        for snap in later:
            status = snap["object"].get("status") or {}
            if status.get("domains") and status.get("target"):
                return dict(status)
        return now

    def model_intent(self, t: float, within: float, operation_id: str | None = None) -> dict[str, Any]:
        """The status a model update sent at ``t`` acted on: the first version written within ``within`` that
        records this Azure operation (``operation_id``, when Azure started one), else the status at ``t`` (or the
        first later one with a target).

        Without an operation id, the first version recording any ModelUpdate counts. With one, a version
        recording another operation is another pass's decision: when this write's own status write was lost,
        the next model update (say, to a new target) can follow within ``within``.
        """
        later = self._later(t, within)
        for snap in later:
            operation = (snap["object"].get("status") or {}).get("operation") or {}
            if operation.get("kind") not in ("ModelUpdate", "Rollback"):
                continue
            if operation_id is None or operation.get("id") == operation_id:
                return dict(snap["object"].get("status") or {})
        now = self.status_at(t)
        if now.get("target"):
            return now
        for snap in later:
            status = snap["object"].get("status") or {}
            if status.get("target"):
                return dict(status)
        return now

    def domain_of(self, iid: str, t: float, within: float) -> str | None:
        """The domain of instance ``iid`` in the plan at ``t``, or in the first plan written soon after."""
        _, where = domains_of(self.status_at(t))
        if iid in where:
            return where[iid]
        for snap in self.snapshots:
            if t < snap["time"] <= t + within and snap["event"] != "DELETED":
                _, where = domains_of(snap["object"].get("status") or {})
                if iid in where:
                    return where[iid]
        return None


def domains_of(status: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The plan's domain ids in order, and instance id -> domain id."""
    order: list[str] = []
    where: dict[str, str] = {}
    for domain in status.get("domains") or []:
        order.append(str(domain["id"]))
        for iid in domain.get("instanceIds") or []:
            where[str(iid)] = str(domain["id"])
    return order, where


def _upgrade_ids(event: dict[str, Any]) -> list[str] | None:
    """The instance ids of an executed manualupgrade (answered 202, or executed and its answer lost)."""
    if event.get("method") != "POST" or not str(event.get("path", "")).lower().endswith("/manualupgrade"):
        return None
    if 202 not in (event.get("status"), event.get("executedStatus")):
        return None
    return [str(i) for i in ((event.get("body") or {}).get("instanceIds") or [])]


def _model_image_version(event: dict[str, Any]) -> str | None:
    """The marketplace version a PUT or PATCH of the scale set writes into its model, if it writes one."""
    if event.get("method") not in ("PUT", "PATCH") or str(event.get("path", "")).lower().count("/") != 8:
        return None
    body = event.get("body") or {}
    profile = ((body.get("properties") or {}).get("virtualMachineProfile") or {}) if isinstance(body, dict) else {}
    image = (profile.get("storageProfile") or {}).get("imageReference") or {}
    version = image.get("version") if isinstance(image, dict) else None
    return str(version) if version else None


def _is_model_read(event: dict[str, Any]) -> bool:
    """A successful GET of the scale set itself (its model)."""
    path = str(event.get("path", "")).lower()
    return event.get("method") == "GET" and path.count("/") == 8 and int(event.get("status") or 0) == 200


def operator_request(event: dict[str, Any], prefix: str) -> bool:
    """A request the operator sent about this schedule's scale set (not another actor's)."""
    return str(event.get("path", "")).lower().startswith(prefix) and not str(
        event.get("clientRequestId") or ""
    ).startswith(ACTOR)


# ------------------------------------------------------------------------------------------------- checks
def check(obs: Observation) -> list[Violation]:
    """Every invariant over one observation."""
    out: list[Violation] = []
    out += check_audit_replay(obs)
    out += check_succeeded(obs)
    out += check_no_write_after_delete(obs)
    out += check_hot_loop(obs)
    out += check_log(obs)
    out += check_lease_holder_writes(obs)
    out += [Violation(OPERATOR_ALIVE, -1, text) for text in obs.unexpected_exits]
    return out


def _replica_of(event: dict[str, Any]) -> str | None:
    """The replica that sent a request: the operator puts ``replica/<identity>`` in its User-Agent."""
    agent = str(event.get("userAgent") or "")
    marker = agent.find("replica/")
    return agent[marker + len("replica/") :].split()[0] if marker >= 0 else None


def check_lease_holder_writes(obs: Observation) -> list[Violation]:
    """With leader election: every Azure write a replica sends arrives while that replica holds the Lease (as the
    API server last committed it). A deposed or partitioned leader that still wrote after another replica took
    the Lease is what fencing exists to prevent."""
    if not obs.leases:
        return []
    out: list[Violation] = []
    for event in obs.audit:
        if event.get("type") != "request" or event.get("method") == "GET" or not operator_request(event, obs.prefix):
            continue
        replica = _replica_of(event)
        if replica is None:
            continue
        t = float(event["time"])
        holder = next((str(r["holder"]) for r in reversed(obs.leases) if float(r["time"]) <= t), None)
        if holder != replica:
            out.append(
                Violation(
                    LEASE_HOLDER_WRITES,
                    t,
                    f"replica {replica} sent {event['method']} {event['path'].rsplit('/', 1)[-1]} while the Lease"
                    f" was held by {holder or 'nobody'}",
                )
            )
    return out


def check_audit_replay(obs: Observation) -> list[Violation]:
    """Replay the audit with the instances' state: domain overlap and order, same-image upgrades, what is
    installed, and pauses."""
    timeline = Timeline(obs.snapshots)
    out: list[Violation] = []
    instances: dict[str, dict[str, Any]] = {
        str(i["instanceId"]): {
            "state": i.get("state", "Running"),
            "imageVersion": i.get("imageVersion"),
            "healthy": i.get("healthy"),
        }
        for i in obs.initial_instances
    }
    intended: dict[str, tuple[str | None, float]] = {}  # instance -> (target at its manualupgrade, when)
    # Another actor's image written into the model after the operator last read it and before a manualupgrade
    # is installed by that call: Azure's manualupgrade takes no If-Match, so the operator cannot know. The
    # image it installs then is the actor's, which is allowed; anything else is still a violation.
    foreign_writes: list[tuple[float, str]] = []
    last_model_read = float("-inf")
    read_before: dict[str, float] = {}  # instance -> the operator's last model read before its manualupgrade
    update_began: dict[str, float] = {}  # instance -> when Azure began that update (a held call runs late)
    updating: dict[str, str] = {}  # instance -> its domain, while Updating
    lookahead = LOOKAHEAD * obs.scale
    reported_overlaps: set[frozenset[str]] = set()
    grace = PAUSE_GRACE * obs.scale
    pauses = _pause_windows(obs.snapshots)
    for event in obs.audit:
        t = float(event.get("time", 0.0))
        if event.get("type") == "instance":
            if str(event.get("scaleSet", "")).lower() != obs.prefix.rsplit("/", 1)[-1]:
                continue
            iid = str(event["instanceId"])
            before = instances.get(iid, {}).get("state")
            instances[iid] = {
                "state": event.get("state"),
                "imageVersion": event.get("imageVersion"),
                "healthy": event.get("healthy"),
            }
            state = event.get("state")
            if state == "Updating" and before != "Updating":
                update_began[iid] = t
            if state == "Updating":
                updating[iid] = timeline.domain_of(iid, t, lookahead) or _platform_domain(event)
                busy = frozenset(updating.values())
                if len(busy) > 1 and busy not in reported_overlaps:
                    reported_overlaps.add(busy)
                    out.append(
                        Violation(
                            ONE_DOMAIN,
                            t,
                            f"instances {sorted(updating)} updating at once span domains {sorted(busy)}",
                        )
                    )
            else:
                updating.pop(iid, None)
            if before == "Updating" and state in ("Running", "Failed") and iid in intended:
                want, when = intended.pop(iid)
                got = event.get("imageVersion")
                since, began = read_before.pop(iid, float("-inf")), update_began.get(iid, t)
                raced = {version for at, version in foreign_writes if since < at <= began}
                if want is not None and got != want and got not in raced:
                    out.append(
                        Violation(
                            INSTALLS_TARGET,
                            t,
                            f"instance {iid} upgraded by the manualupgrade at {when:.2f} came up on {got},"
                            f" while status.target was {want}",
                        )
                    )
            continue
        if event.get("type") != "request":
            continue
        if not operator_request(event, obs.prefix):
            foreign = _model_image_version(event) if str(event.get("path", "")).lower().startswith(obs.prefix) else None
            if foreign is not None and int(event.get("status") or 0) < 300:
                foreign_writes.append((t, foreign))
            continue
        if _is_model_read(event):
            last_model_read = t
        written = _model_image_version(event)
        if written is not None:
            meant = target_version(timeline.model_intent(t, lookahead, event.get("operationId")))
            # A retarget is written into the model before the status records it: the spec's version counts too.
            asked = _version_of(timeline.spec_at(t).get("image"))
            # A spec naming 'latest' may be resolved to any version Azure lists by then (a newly published one too).
            if meant is not None and asked != "latest" and written not in (meant, asked, "latest"):
                out.append(
                    Violation(
                        MODEL_WRITE_TARGET,
                        t,
                        f"{event['method']} of the model's image to {written} (answered {event.get('status')}),"
                        f" while status.target was {meant} and spec.image {asked}",
                    )
                )
            continue
        ids = _upgrade_ids(event)
        if ids is None:
            continue
        status = timeline.intent(t, ids, lookahead)
        want = target_version(status)
        order, where = domains_of(status)
        for iid in ids:
            inst = instances.get(iid)
            runs_it = inst is not None and inst.get("imageVersion") == want is not None
            if runs_it and inst is not None and inst.get("state") not in ("Failed", *GONE_STATES):
                out.append(Violation(NO_SAME_IMAGE, t, f"manualupgrade of instance {iid}, which already runs {want}"))
            intended[iid] = (want, t)
            read_before[iid] = last_model_read
        started = sorted({where[i] for i in ids if i in where})
        if started and order:
            first = min(order.index(d) for d in started)
            if first > 0:
                previous = order[first - 1]
                members = [i for i, d in where.items() if d == previous]
                not_done = [
                    _describe(i, instances[i])
                    for i in sorted(members, key=_as_int)
                    if i in instances
                    and instances[i].get("state") not in GONE_STATES
                    and not (
                        instances[i].get("state") == "Running"
                        and instances[i].get("imageVersion") == want
                        and (instances[i].get("healthy") is True or not obs.health_extension)
                    )
                ]
                if not_done:
                    out.append(
                        Violation(
                            DOMAIN_ORDER,
                            t,
                            f"manualupgrade of domain {started} ({ids}) while previous domain {previous} is not"
                            f" done on {want}: {not_done}",
                        )
                    )
        for since, allowed in pauses:
            if since + grace < t and _paused_at(obs.snapshots, t, since):
                new = [d for d in started if d not in allowed]
                if new:
                    out.append(
                        Violation(
                            PAUSE_HOLDS,
                            t,
                            f"manualupgrade of domain {new} ({ids}) while spec.rollout.paused has been true since"
                            f" {since:.2f} (domains in progress then: {sorted(allowed)})",
                        )
                    )
    return out


def _describe(iid: str, inst: dict[str, Any]) -> str:
    return f"{iid}:{inst.get('state')}/{inst.get('imageVersion')}/healthy={inst.get('healthy')}"


def _as_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 1 << 30


def _pause_windows(snapshots: list[dict[str, Any]]) -> list[tuple[float, set[str]]]:
    """Each moment spec.rollout.paused turned true, with the domains in progress (or current) just then."""
    out: list[tuple[float, set[str]]] = []
    was = False
    for snap in snapshots:
        obj = snap.get("object") or {}
        paused = bool(((obj.get("spec") or {}).get("rollout") or {}).get("paused")) and snap["event"] != "DELETED"
        if paused and not was:
            status = obj.get("status") or {}
            allowed = {
                str(d["id"]) for d in status.get("domains") or [] if d.get("state") in ("Upgrading", "Verifying")
            }
            if status.get("currentDomain"):
                allowed.add(str(status["currentDomain"]))
            out.append((float(snap["time"]), allowed))
        was = paused
    return out


def _paused_at(snapshots: list[dict[str, Any]], t: float, since: float) -> bool:
    """True when the pause that began at ``since`` still holds at ``t``."""
    paused = False
    for snap in snapshots:
        if snap["time"] > t:
            break
        if snap["time"] < since:
            continue
        obj = snap.get("object") or {}
        paused = bool(((obj.get("spec") or {}).get("rollout") or {}).get("paused")) and snap["event"] != "DELETED"
        if not paused:
            return False
    return paused


def check_succeeded(obs: Observation) -> list[Violation]:
    """When the status turned Succeeded, every live instance ran its target image."""
    out: list[Violation] = []
    for seen in obs.succeeded:
        want = target_version(seen.get("status") or {})
        wrong = [
            f"{i['instanceId']}:{i.get('state')}/{i.get('imageVersion')}"
            for i in seen.get("instances") or []
            if i.get("state") not in GONE_STATES and i.get("imageVersion") != want
        ]
        if wrong:
            out.append(
                Violation(SUCCEEDED_TRUE, float(seen["time"]), f"phase Succeeded for {want} but instances {wrong}")
            )
    return out


def deletion_windows(snapshots: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(deleted at, re-created at or +inf) for each time the ScaleSetImage was gone."""
    out: list[tuple[float, float]] = []
    gone: float | None = None
    for snap in snapshots:
        if snap["event"] == "DELETED" and gone is None:
            gone = float(snap["time"])
        elif snap["event"] == "ADDED" and gone is not None:
            out.append((gone, float(snap["time"])))
            gone = None
    if gone is not None:
        out.append((gone, float("inf")))
    return out


def check_no_write_after_delete(obs: Observation) -> list[Violation]:
    out: list[Violation] = []
    windows = deletion_windows(obs.snapshots)
    for event in obs.audit:
        if event.get("type") != "request" or event.get("method") == "GET" or not operator_request(event, obs.prefix):
            continue
        t = float(event["time"])
        for start, end in windows:
            if start < t < end:
                out.append(
                    Violation(
                        NO_WRITE_DELETED,
                        t,
                        f"{event['method']} {event['path'].rsplit('/', 1)[-1]} (answered {event.get('status')}) after"
                        f" the ScaleSetImage was deleted at {start:.2f}",
                    )
                )
    return out


def check_hot_loop(obs: Observation) -> list[Violation]:
    window = HOT_LOOP_WINDOW * obs.scale
    groups: dict[str, deque[float]] = defaultdict(deque)
    reported: set[str] = set()
    out: list[Violation] = []
    for event in obs.audit:
        if event.get("type") != "request" or event.get("method") == "GET" or not operator_request(event, obs.prefix):
            continue
        status = int(event.get("status") or 0)
        if 0 < status < 400:
            continue
        key = f"{event['method']} {event['path']} {json.dumps(event.get('body'), sort_keys=True)}"
        times = groups[key]
        t = float(event["time"])
        times.append(t)
        while times and times[0] < t - window:
            times.popleft()
        if len(times) > HOT_LOOP_COUNT and key not in reported:
            reported.add(key)
            out.append(
                Violation(
                    NO_HOT_LOOP,
                    t,
                    f"{len(times)} identical failing writes within {HOT_LOOP_WINDOW:g} s:"
                    f" {event['method']} {event['path'].rsplit('/', 1)[-1]} last answered {status}"
                    f" {event.get('errorCode') or ''}".rstrip(),
                )
            )
    return out


def check_log(obs: Observation) -> list[Violation]:
    out: list[Violation] = []
    lines = obs.log.splitlines()
    for n, line in enumerate(lines):
        if TRACEBACK in line:
            tail = next(
                (
                    candidate.strip()
                    for candidate in lines[n + 1 : n + 200]
                    if candidate and not candidate.startswith((" ", "\t", "Traceback", "[")) and ":" in candidate
                ),
                "?",
            )
            out.append(Violation(NO_TRACEBACK, -1, f"log line {n + 1}: {tail}"))
    return out


def by_invariant(violations: Iterable[Violation]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for v in violations:
        counts[v.invariant] += 1
    return dict(counts)


def _platform_domain(event: dict[str, Any]) -> str:
    """The domain of an instance no plan names: its update domain, or (Flexible, no update domains) its fault
    domain or zone."""
    if event.get("updateDomain") is not None:
        return f"emulator-ud-{event.get('updateDomain')}"
    if event.get("zone"):
        return f"emulator-zone-{event.get('zone')}"
    return f"emulator-fd-{event.get('faultDomain')}"
