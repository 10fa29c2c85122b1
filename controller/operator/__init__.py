"""The kopf glue: load the resource, observe Azure, plan one step, do it, write status."""

from controller.operator.context import OperatorContext
from controller.operator.handlers import build_registry, run_operator
from controller.operator.reconcile import log_decision, reconcile

__all__ = ["OperatorContext", "build_registry", "log_decision", "reconcile", "run_operator"]
