"""Print what the spec-driven suite covers, from the stored data: operations x api-versions, and the cases
``test_replay.py`` runs (the suite's own request and each stored x-ms-example). Deviations are the failures of
``pytest tests/emulator/spec/test_replay.py``::

    python -m tests.emulator.spec.coverage
"""

from __future__ import annotations

from collections import Counter

from .replay import cases


def main() -> int:
    runs = cases()
    columns = sorted({(c.folder, c.profile) for c in runs})
    pairs = {(c.operation, c.folder) for c in runs}
    profiled = {(c.operation, c.folder, c.profile) for c in runs}
    examples = sum(1 for c in runs if c.example is not None)
    per_column = Counter((c.folder, c.profile) for c in runs)
    for folder, profile in columns:
        label = folder if profile == "azure" else f"{folder} ({profile} profile)"
        ops = len({c.operation for c in runs if (c.folder, c.profile) == (folder, profile)})
        print(f"{label}: {ops} operations, {per_column[(folder, profile)]} cases")
    print(f"operations x api-versions: {len(pairs)} ({len(profiled)} with the profiles)")
    print(f"cases: {len(runs)} ({examples} published x-ms-examples, {len(runs) - examples} own requests)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
