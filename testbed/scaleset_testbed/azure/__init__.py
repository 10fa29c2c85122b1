"""A loopback emulator of the ARM / Microsoft.Compute API subset that scale-set image rollouts use.

Start it with ``scaleset-image-testbed emulator`` or in-process::

    emulator = AzureEmulator(load_scenario_file("scenario.yaml"), time_scale=10)
    url = await emulator.start()          # http://127.0.0.1:<port>
    ...
    await emulator.stop()

``EmulatorThread`` runs one in a background thread, for synchronous code (the sync SDK, scripts).
"""

from .runner import EmulatorThread, run_emulator
from .scenario import Scenario, ScenarioError, load_scenario_file, parse_scenario
from .server import AzureEmulator

__all__ = [
    "AzureEmulator",
    "EmulatorThread",
    "Scenario",
    "ScenarioError",
    "load_scenario_file",
    "parse_scenario",
    "run_emulator",
]
