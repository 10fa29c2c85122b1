"""Fixtures for the packaging tests: the Helm chart, loaded once, and a renderer returning parsed objects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helm_python import Chart

from .support import CHART, Obj, load_docs

RELEASE = "scaleset-image-operator"
NAMESPACE = "scaleset-image-system"
Render = Callable[..., list[Obj]]


@pytest.fixture(scope="session")
def chart() -> Iterator[Chart]:
    with Chart.load(CHART) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def render(chart: Chart) -> Render:
    """Render the chart as `helm install` would (values checked against values.schema.json), parsed."""

    def _render(values: dict[str, Any] | None = None, *, name: str = RELEASE, namespace: str = NAMESPACE) -> list[Obj]:
        manifests = chart.render(values=values or {}, name=name, namespace=namespace, is_install=True)
        objects: list[Obj] = []
        for path, text in sorted(manifests.items()):
            if path.endswith(".yaml"):
                objects.extend(load_docs(text))
        return objects

    return _render
