"""The emulator's test hooks: write faults that lose a write (before or after applying it), and listeners.

The fault campaign (scaleset_testbed.chaos) loses the operator's status writes with them and records every
stored version of a ScaleSetImage through a listener.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from scaleset_testbed.kube import RunningKubeEmulator, WriteFault

from .support import WIDGETS, Api, widget


async def test_a_write_lost_on_the_way_in_is_not_applied(kube: RunningKubeEmulator, api: Api) -> None:
    await api.create(widget("w1"))
    await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Pending"}})
    kube.emulator.write_faults.append(WriteFault(r"/w1/status$"))
    with pytest.raises(aiohttp.ClientError):
        await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Ready"}})
    assert (await api.get(f"{WIDGETS}/w1")).body["status"] == {"phase": "Pending"}
    assert kube.emulator.write_faults == []  # spent
    again = await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Ready"}})
    assert again.body["status"] == {"phase": "Ready"}


async def test_a_write_whose_answer_is_lost_is_applied(kube: RunningKubeEmulator, api: Api) -> None:
    await api.create(widget("w1"))
    kube.emulator.write_faults.append(WriteFault(r"/w1/status$", after=True))
    with pytest.raises(aiohttp.ClientError):
        await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Ready"}})
    assert (await api.get(f"{WIDGETS}/w1")).body["status"] == {"phase": "Ready"}


async def test_reads_and_other_paths_are_not_faulted(kube: RunningKubeEmulator, api: Api) -> None:
    await api.create(widget("w1"))
    kube.emulator.write_faults.append(WriteFault(r"/w1/status$"))
    assert (await api.get(f"{WIDGETS}/w1/status")).status == 200
    assert (await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 3}})).status == 200
    assert len(kube.emulator.write_faults) == 1


async def test_listeners_see_every_stored_version_in_order(kube: RunningKubeEmulator, api: Api) -> None:
    seen: list[tuple[str, Any]] = []
    kube.emulator.listeners.append(
        lambda event, obj: (
            seen.append((event, (obj.get("status") or {}).get("phase")))
            if obj["metadata"].get("name") == "w1"
            else None
        )
    )
    await api.create(widget("w1"))
    await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Ready"}})
    await api.delete(f"{WIDGETS}/w1")
    assert seen == [("ADDED", None), ("MODIFIED", "Ready"), ("DELETED", "Ready")]
