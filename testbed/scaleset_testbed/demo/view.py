"""The demo's live view on a terminal: a header that stays on screen, and the resources condensed to fit.

The header (run time, state, the kubeconfig path, what to type in another terminal, the API addresses, the
legend) keeps its place for the whole run. Below it, the resources take the lines left: the full grids when
they fit, then without blank lines, then two lines per resource (the grid as ``##|~~|oo``), then one, then
as many one-liners as fit and a count of the others. Lines wider than the terminal end in an ellipsis.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.layout import Layout
from rich.text import Text

from controller.commands.grid import InstanceState, legend, render_compact, render_line, render_resource

HEADER_LINES = 6  # five lines and a blank one
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"


@dataclass(frozen=True)
class Row:
    """One resource as the view shows it."""

    namespace: str
    name: str
    status: dict[str, Any]
    states: dict[str, InstanceState]
    scale_set: str


@dataclass(frozen=True)
class Header:
    elapsed: float
    time_scale: float
    state: str
    kubeconfig: str
    env_file: str
    kube_url: str
    azure_url: str


def header_lines(header: Header) -> list[str]:
    return [
        f"{_BOLD}scaleset-image-testbed demo{_RESET}  t={header.elapsed:5.1f}s  time x{header.time_scale:g}  "
        + header.state,
        f"kubeconfig {header.kubeconfig}",
        f"try: source {header.env_file}; kubectl get ssi -A",
        f"Kubernetes API {header.kube_url}  Azure Compute {header.azure_url}",
        legend(colour=True, short=True),
    ]


def _flatten(blocks: Iterator[list[str]], blank: bool) -> list[str]:
    return [line for block in blocks for line in (*block, *([""] if blank else []))]


def body_lines(rows: Sequence[Row], height: int, width: int) -> list[str]:
    """The most detailed form of ``rows`` that fits in ``height`` lines (the lines, with ANSI colours)."""
    bar = 20 if width >= 130 else 10

    def full() -> Iterator[list[str]]:
        for r in rows:
            yield render_resource(r.namespace, r.name, r.status, r.states, colour=True, scale_set=r.scale_set,
                                  bar_width=bar)  # fmt: skip

    def compact() -> Iterator[list[str]]:
        for r in rows:
            yield render_compact(r.namespace, r.name, r.status, r.states, colour=True, scale_set=r.scale_set)

    single = [render_line(r.namespace, r.name, r.status, r.states, colour=True) for r in rows]
    for lines in (_flatten(full(), True), _flatten(full(), False), _flatten(compact(), False), single):
        if len(lines) <= height:
            return lines
    shown = max(0, height - 1)
    return [*single[:shown], f"... {len(rows) - shown} more: enlarge the terminal, or kubectl ssi status -A"]


def _text(line: str) -> Text:
    text = Text.from_ansi(line)
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


class _Lines:
    """Lines chosen when rich knows the room they have (the layout's region)."""

    def __init__(self, lines: list[str] | None = None, rows: Sequence[Row] = ()) -> None:
        self.lines = lines
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = options.height or options.max_height or console.height
        lines = self.lines if self.lines is not None else body_lines(self.rows, height, options.max_width)
        for line in lines[:height]:
            yield _text(line)


def frame(header: Header, rows: Sequence[Row]) -> Layout:
    """The whole screen: the header on top, the resources in the room left."""
    layout = Layout()
    layout.split_column(
        Layout(_Lines(header_lines(header)), name="header", size=HEADER_LINES),
        Layout(_Lines(rows=rows), name="body"),
    )
    return layout


def final_text(rows: Sequence[Row], width: int) -> str:
    """Every resource in full, for the scrollback once the live view has gone."""
    bar = 20 if width >= 130 else 10
    return "\n".join(_flatten((render_resource(r.namespace, r.name, r.status, r.states, colour=True,
                                               scale_set=r.scale_set, bar_width=bar) for r in rows), True))  # fmt: skip
