"""The commands beside the operator: ``plan`` (a dry run), ``status`` (the rollout grid) and the grid itself."""
