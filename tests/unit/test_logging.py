"""Decision logs: one line per decision, with resource, domain, and Azure operation id as JSON fields."""

from __future__ import annotations

import io
import json
import logging

import kopf

from controller.operator import log_decision


def test_decision_log_line_is_json_with_its_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_formatter())
    logger = logging.getLogger("scaleset_image.operator")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        log_decision(
            "platform",
            "web",
            "AzureOperationStarted",
            "manualupgrade of domain ud-1",
            domain="ud-1",
            operation_id="5d2c",
            instance_ids=["1", "6"],
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    record = json.loads(stream.getvalue().strip())
    assert record["message"] == "platform/web AzureOperationStarted: manualupgrade of domain ud-1"
    assert record["decision"] == {
        "resource": "platform/web",
        "reason": "AzureOperationStarted",
        "domain": "ud-1",
        "azureOperationId": "5d2c",
        "instanceIds": ["1", "6"],
    }
    assert record["severity"] == "info"


def _formatter() -> logging.Formatter:
    from kopf._core.actions.loggers import make_formatter

    return make_formatter(log_format=kopf.LogFormat.JSON)
