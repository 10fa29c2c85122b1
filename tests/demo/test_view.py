"""The demo's live view fits the terminal: the header stays on top and the resources condense to the room left.

Aspects: at 160x50 the six demo resources show in full; at 80x24 they condense to two lines each and every
one is still there; in a tiny terminal the one-liners that fit are shown with a count of the rest; the
header (with the kubeconfig path) is the first lines of every frame and no frame is taller than the terminal;
lines wider than the terminal end in an ellipsis instead of wrapping.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console
from scaleset_testbed.demo.view import Header, Row, body_lines, frame

HEADER = Header(
    elapsed=12.5, time_scale=10, state="settling 2/6 (timeout 600s)",
    kubeconfig="/tmp/scaleset-image-demo-abcd1234/kubeconfig", env_file="/tmp/scaleset-image-demo-abcd1234/env",
    kube_url="http://127.0.0.1:40001", azure_url="http://127.0.0.1:40002",
)  # fmt: skip
# The demo's six resources: (namespace, name, domains, instances per domain)
DEMO = [("api", "api", 4, 2), ("app", "app", 3, 3), ("batch", "batch-workers", 3, 3), ("edge", "edge-web", 3, 2),
        ("web", "frontend", 5, 2), ("web", "web", 5, 4)]  # fmt: skip


def _row(namespace: str, name: str, domains: int, per: int) -> Row:
    ids = iter(range(domains * per))
    status: dict[str, Any] = {
        "phase": "Progressing", "domainKind": "UpdateDomain", "currentDomain": "ud-1",
        "imageSummary": "Canonical:ubuntu-24_04-lts:server:24.04.202405010",
        "instances": {"total": domains * per, "updated": per},
        "domains": [
            {"id": f"ud-{d}", "state": "Succeeded" if d == 0 else "Upgrading" if d == 1 else "Pending",
             "instanceIds": [str(next(ids)) for _ in range(per)]}
            for d in range(domains)
        ],
    }  # fmt: skip
    return Row(namespace, name, status, {}, f"vmss-{name}")


def _screen(rows: list[Row], width: int, height: int) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, height=height, force_terminal=False, color_system=None)
    console.print(frame(HEADER, rows))
    return [line.rstrip() for line in out.getvalue().rstrip("\n").split("\n")]


@pytest.mark.parametrize(("width", "height"), [(80, 24), (160, 50), (60, 12)])
def test_the_header_stays_on_top_and_the_frame_fits(width: int, height: int) -> None:
    screen = _screen([_row(*r) for r in DEMO], width, height)
    assert len(screen) <= height
    assert screen[0].startswith("scaleset-image-testbed demo  t= 12.5s  time x10  settling 2")
    assert screen[1] == "kubeconfig /tmp/scaleset-image-demo-abcd1234/kubeconfig"
    assert screen[2].startswith("try: source /tmp/scaleset-image-demo-abcd1234/env")
    assert all(len(line) <= width for line in screen)


def test_160x50_shows_every_grid_in_full() -> None:
    screen = "\n".join(_screen([_row(*r) for r in DEMO], 160, 50))
    for namespace, name, domains, _ in DEMO:
        assert f"{namespace}/{name}  (vmss-{name})  Progressing" in screen
        assert f"ud-{domains - 1} Pending" in screen
    assert "domains 1/5 [####----" in screen


def test_80x24_condenses_to_two_lines_per_resource_and_keeps_them_all() -> None:
    screen = _screen([_row(*r) for r in DEMO], 80, 24)
    text = "\n".join(screen)
    for namespace, name, _, _ in DEMO:
        assert f"{namespace}/{name}" in text
    assert "  1/5 domains, 4/20 instances by UpdateDomain, now ud-1  oooo|oooo|oooo|oooo|oo…" in screen
    assert any(line.endswith("…") for line in screen), "a line too wide ends in an ellipsis"


def test_too_many_resources_show_what_fits_and_count_the_rest() -> None:
    rows = [_row("ns", f"r{i:02d}", 5, 4) for i in range(30)]
    lines = body_lines(rows, height=10, width=80)
    assert len(lines) == 10
    assert lines[0].startswith("\x1b[1mns/r00")
    assert lines[-1] == "... 21 more: enlarge the terminal, or kubectl ssi status -A"
