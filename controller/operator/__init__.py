"""The kopf glue: load the resource, observe Azure, plan one step, do it, write status."""

from controller.operator.reconcile import (
    OperatorContext,
    SeenScaleSet,
    image_facts,
    log_decision,
    observe,
    run_operator,
)

__all__ = ["OperatorContext", "SeenScaleSet", "image_facts", "log_decision", "observe", "run_operator"]
