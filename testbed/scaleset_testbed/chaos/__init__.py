"""A seeded, randomized fault campaign over the whole system: emulators, the operator process, and chaos.

- ``schedule``: a schedule (a small world and timed actions) from a seed alone;
- ``runner``: plays one schedule against fresh emulators and the real operator process, records the audit,
  every stored version of the ScaleSetImage, and the Azure state whenever the status says Succeeded;
- ``invariants``: the safety invariants over those records, each violation with its evidence;
- ``cli``: ``python -m scaleset_testbed.chaos --seeds START:END [-j N]`` runs many and summarizes.
"""

from scaleset_testbed.chaos.invariants import INVARIANTS, Observation, Violation, check
from scaleset_testbed.chaos.schedule import Action, Schedule, World, generate

__all__ = ["INVARIANTS", "Action", "Observation", "Schedule", "Violation", "World", "check", "generate"]
