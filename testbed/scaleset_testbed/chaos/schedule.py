"""Schedules: a small world and a list of timed actions, generated from a seed alone.

``generate(seed, kill_share)`` draws everything from ``random.Random(seed)``: the scale set's size and
domains, the rollout's first target, and 3 to 8 actions at real-time offsets in the first few seconds.
The same seed (and kill share) always gives the same schedule; what the system does with it can still vary
with thread timing, which is why a violating run's schedule, audit and status history are saved.

Action kinds and their arguments (``args``):

- Azure faults (emulator fault rules, see docs/emulator.md): ``throttle`` (429 with or without Retry-After),
  ``error5xx``, ``drop`` (no answer, not executed), ``slow`` (delay), ``dropAfter`` (executed, answer lost);
  ``args`` is the rule.
- ``failInstance`` (next upgrade of an instance fails or turns unhealthy), ``preempt`` (every running
  operation on the scale set ends Canceled/OperationPreempted), ``publish`` (a newer marketplace version).
- Operator: ``kill`` (SIGKILL now), ``killAfterWrite`` (SIGKILL right after the next Azure write it sends);
  both restart it ``restartAfter`` seconds later.
- The ScaleSetImage: ``pause``, ``resume``, ``retarget`` (a new spec.image version: good, bad or
  ``latest``), ``delete`` and ``recreate``, ``loseStatusWrite`` (the next status PATCH is lost, before or
  after it is applied).
- Other actors on the ARM API: ``actorImage`` (the model's image to another version), ``actorField``
  (another model field or the tags), ``scale`` (``sku.capacity`` up or down).
- Failover (a world with two replicas and leader election, ``failover_share`` of the schedules): ``killLeader``
  (SIGKILL whichever replica holds the Lease, restarted ``restartAfter`` s later as a standby),
  ``partitionLeader`` (the leader's connection to the Kubernetes API held back for ``seconds``: shorter than
  the renew deadline it survives, longer it must stop writing and exit), ``freezeLeader`` (SIGSTOP for
  ``seconds``, then SIGCONT: past the lease duration both replicas believe they lead for a moment). In such a
  world ``kill`` and ``killAfterWrite`` hit the leader.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from scaleset_testbed.worlds import V1, V2, V3, V4

OLD, NEW, NEWER, BAD = V1, V2, V3, V4
# Published during a schedule by ``publish`` (not in the catalogue at the start).
NEWEST = "16.04.201905010"

FAULT_KINDS = ("throttle", "error5xx", "drop", "slow", "dropAfter")
OTHER_KINDS = (
    "failInstance",
    "preempt",
    "publish",
    "pause",
    "resume",
    "retarget",
    "delete",
    "loseStatusWrite",
    "actorImage",
    "actorField",
    "scale",
)
KILL_KINDS = ("kill", "killAfterWrite")
FAILOVER_KINDS = ("killLeader", "partitionLeader", "freezeLeader")
ALL_KINDS = (*FAULT_KINDS, *OTHER_KINDS, "recreate", *KILL_KINDS, *FAILOVER_KINDS)

# Paths (regexes searched in the request path) a fault can hit: reads, writes and operation polls.
_READ_PATHS = (r"virtualMachineScaleSets/[^/]+$", r"/virtualMachines$", r"/instanceView$")
_WRITE_PATHS = (r"virtualMachineScaleSets/[^/]+$", r"/manualupgrade$")
_POLL_PATH = r"/operations/"


@dataclass(frozen=True)
class Action:
    at: float  # real seconds after the ScaleSetImage is first created
    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        detail = ",".join(f"{k}={v}" for k, v in sorted(self.args.items()) if k not in ("path",))
        return f"{self.at:.2f}s {self.kind}" + (f"({detail})" if detail else "")


@dataclass(frozen=True)
class World:
    capacity: int
    update_domains: int  # Uniform: update domains; Flexible: platformFaultDomainCount (at most 3)
    version: str = OLD  # what the scale set runs at the start
    target: str = NEW  # the ScaleSetImage's first spec.image version
    flexible: bool = False  # Flexible orchestration: named VMs walked by fault domain
    replicas: int = 1  # 2: two operator replicas with leader election (failover schedules)


@dataclass(frozen=True)
class Schedule:
    seed: int
    world: World
    actions: tuple[Action, ...]

    @property
    def kills(self) -> int:
        return sum(1 for a in self.actions if a.kind in KILL_KINDS or a.kind == "killLeader")

    @property
    def failovers(self) -> int:
        return sum(1 for a in self.actions if a.kind in FAILOVER_KINDS)

    @property
    def end(self) -> float:
        return max((a.at for a in self.actions), default=0.0)

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "world": asdict(self.world), "actions": [asdict(a) for a in self.actions]}

    def describe(self) -> str:
        return "; ".join(a.describe() for a in self.actions)


def _fault(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "dropAfter":
        return {"method": rng.choice(["PATCH", "POST"]), "path": rng.choice(_WRITE_PATHS), "dropAfter": True}
    method = rng.choice(["GET", "GET", "PATCH", "POST"])
    if method == "GET":
        path = rng.choice([*_READ_PATHS, _POLL_PATH])
    else:
        path = r"virtualMachineScaleSets/[^/]+$" if method == "PATCH" else r"/manualupgrade$"
    # Up to 5: more than the SDK's own 3 status retries, so some faults reach the operator's code.
    rule: dict[str, Any] = {"method": method, "path": path, "count": rng.randint(1, 5)}
    if kind == "throttle":
        rule["status"] = 429
        rule["code"] = "TooManyRequests"
        if rng.random() < 0.5:
            rule["retryAfter"] = rng.choice([0, 1])
    elif kind == "error5xx":
        rule["status"] = rng.choice([500, 502, 503])
    elif kind == "drop":
        rule["drop"] = True
    elif kind == "slow":
        rule["delay"] = round(rng.uniform(0.2, 1.5), 2)
        rule["count"] = 1
    return rule


def _args(rng: random.Random, kind: str, world: World) -> dict[str, Any]:
    if kind in FAULT_KINDS:
        return _fault(rng, kind)
    if kind == "failInstance":
        return {"instanceId": str(rng.randrange(world.capacity)), "effect": rng.choice(["failed", "unhealthy"])}
    if kind == "retarget":
        return {"version": rng.choice([NEW, NEWER, NEWER, BAD, "latest"])}
    if kind == "loseStatusWrite":
        return {"after": rng.random() < 0.5}
    if kind == "actorImage":
        return {"version": rng.choice([OLD, NEWER, NEW])}
    if kind == "actorField":
        return {"field": rng.choice(["tags", "userData"]), "value": f"chaos-{rng.randrange(1000)}"}
    if kind == "scale":
        return {"delta": rng.choice([-2, -1, 1, 2])}
    if kind in (*KILL_KINDS, "killLeader"):
        return {"restartAfter": round(rng.uniform(0.0, 0.8), 2)}
    if kind in ("partitionLeader", "freezeLeader"):
        # Shorter and longer than the campaign's renew deadline (1.5 s) and lease duration (2 s).
        return {"seconds": round(rng.uniform(0.5, 4.0), 2)}
    return {}


def generate(
    seed: int, kill_share: float = 0.1, *, flex_share: float = 0.0, failover_share: float = 0.0, horizon: float = 2.5
) -> Schedule:
    """The schedule of ``seed``: a world, and 3-8 actions within ``horizon`` real seconds (plus kills); a
    ``flex_share`` of the worlds are Flexible scale sets, a ``failover_share`` run two replicas with 1-2
    failover actions."""
    rng = random.Random(seed)
    update_domains = rng.randint(2, 4)
    world = World(capacity=rng.randint(max(4, update_domains), 8), update_domains=update_domains)
    actions: list[Action] = []
    for _ in range(rng.randint(3, 8)):
        kind = rng.choice([*FAULT_KINDS, *OTHER_KINDS])
        at = round(rng.uniform(0.0, horizon), 2)
        actions.append(Action(at, kind, _args(rng, kind, world)))
        if kind == "delete":
            later = round(at + rng.uniform(0.1, 1.0), 2)
            actions.append(Action(later, "recreate", {"version": rng.choice([NEW, NEWER])}))
    # Drawn last, so that the share of kills does not change the rest of a seed's schedule.
    if rng.random() < kill_share:
        kind = rng.choice(KILL_KINDS)
        actions.append(Action(round(rng.uniform(0.0, horizon), 2), kind, _args(rng, kind, world)))
    # Drawn after the kills for the same reason: a Uniform seed's schedule is the same at any flex_share.
    if rng.random() < flex_share:
        world = replace(world, flexible=True, update_domains=min(3, world.update_domains))
    # Drawn last for the same reason: the rest of a seed's schedule is the same at any failover_share.
    if rng.random() < failover_share:
        world = replace(world, replicas=2)
        for _ in range(rng.randint(1, 2)):
            kind = rng.choice(FAILOVER_KINDS)
            actions.append(Action(round(rng.uniform(0.2, horizon), 2), kind, _args(rng, kind, world)))
    actions.sort(key=lambda a: a.at)
    return Schedule(seed, world, tuple(actions))
