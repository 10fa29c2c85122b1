"""The HTTP side of progressive delivery: Prometheus queries for analysis, and webhook calls for hooks.

Like ``controller.azure`` for Azure, this package only talks HTTP and answers in plain values; what the
answers mean for a rollout is decided by the pure planner (``controller.rollout.analysis``, ``hooks``).
"""

from controller.progressive.prometheus import PrometheusError, query_prometheus
from controller.progressive.webhooks import HookAnswer, call_webhook

__all__ = ["HookAnswer", "PrometheusError", "call_webhook", "query_prometheus"]
