"""Fleet metrics: the series a fleet's status yields (phase, run, stages and members by state, approval)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from controller.fleet.metrics import FleetMetrics


def test_a_fleet_status_becomes_series() -> None:
    registry = CollectorRegistry()
    metrics = FleetMetrics(registry)
    status = {
        "phase": "WaitingForApproval",
        "run": {"number": 2},
        "stages": [{"state": "Succeeded"}, {"state": "WaitingForApproval"}, {"state": "Pending"}],
        "members": [{"state": "Succeeded"}, {"state": "Failed"}, {"state": "Pending"}, {"state": "Pending"}],
    }
    metrics.observe("ns", "f", status)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"namespace": "ns", "name": "f", **labels})

    assert value("scaleset_image_fleet_phase", phase="WaitingForApproval") == 1
    assert value("scaleset_image_fleet_phase", phase="Progressing") == 0
    assert value("scaleset_image_fleet_run") == 2
    assert value("scaleset_image_fleet_stages", state="Succeeded") == 1
    assert value("scaleset_image_fleet_members", state="Pending") == 2
    assert value("scaleset_image_fleet_members", state="Failed") == 1
    assert value("scaleset_image_fleet_waiting_for_approval") == 1
