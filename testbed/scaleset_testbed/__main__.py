"""``python -m scaleset_testbed``: the same as the ``scaleset-image-testbed`` command."""

from scaleset_testbed.cli import main

raise SystemExit(main())
