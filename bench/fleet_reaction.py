"""Fleet reaction latency: from a member's status reaching Succeeded (as stored in the API server) to the fleet's
status recording it, in real seconds. Not part of ``make bench``'s suite; run it alone:

    .venv/bin/python -m bench.fleet_reaction [POLL_INTERVAL_SECONDS]

Four members (Uniform and Flexible) in three stages, one member at a time, on the emulators in this process
(the e2e harness), the operator's tick 0.05 s and ``pollInterval`` as given (default 2 s). The fleet learns of a
member's end from the member's watch event (a nudge, then its next tick), not from its own poll: before that
watch the delay was about one poll interval (measured 1.90 s mean at 2 s, 3.88 s at 5 s), with it one tick.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time

from tests.e2e import test_fleet as fleet_test
from tests.e2e.harness import NEW, running_system

MEMBERS = {k: fleet_test.SIX[k] for k in ("canary", "eu-web", "eu-app", "us-web")}


async def measure(poll_interval: float) -> list[float]:
    async with running_system(fleet_test.world(MEMBERS)) as system:
        config = system.config()
        system.config = lambda: dataclasses.replace(config, poll_interval=poll_interval)  # type: ignore[method-assign]
        await system.start_operator()
        await fleet_test.create_members(system, MEMBERS)
        stages = [fleet_test.stage("canary"), fleet_test.stage("wave-1"), fleet_test.stage("wave-2")]
        await fleet_test.create_fleet(system, fleet_test.fleet(stages, image=fleet_test.marketplace(NEW)))
        member_done: dict[str, float] = {}
        fleet_done: dict[str, float] = {}
        deadline = time.monotonic() + 300
        while len(fleet_done) < len(MEMBERS) and time.monotonic() < deadline:
            system.azure.world.advance()
            now = time.monotonic()
            for name in MEMBERS:
                status, generation = system.status(name), system.get(name)["metadata"]["generation"]
                done = status.get("phase") == "Succeeded" and status.get("observedGeneration") == generation > 1
                if done and name not in member_done:
                    member_done[name] = now
            for member in fleet_test.fleet_status(system).get("members", []):
                if member["state"] == "Succeeded" and member["name"] not in fleet_done:
                    fleet_done[member["name"]] = now
            await asyncio.sleep(0.01)
    return sorted(fleet_done[n] - member_done[n] for n in fleet_done if n in member_done)


def main() -> None:
    poll = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    delays = asyncio.run(measure(poll))
    shown = ", ".join(f"{d:.3f}" for d in delays)
    print(f"pollInterval {poll} s, tick 0.05 s: {len(delays)} members, fleet reaction delays {shown} s;", end=" ")
    print(f"mean {sum(delays) / len(delays):.3f} s, max {max(delays):.3f} s")


if __name__ == "__main__":
    main()
