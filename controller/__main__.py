"""``python -m controller`` runs the ``scaleset-image`` command line."""

from controller.cli import main

raise SystemExit(main())
