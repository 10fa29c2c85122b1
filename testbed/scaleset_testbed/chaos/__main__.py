"""``python -m scaleset_testbed.chaos``: the fault campaign's command line (see ``cli``)."""

import sys

from scaleset_testbed.chaos.cli import main

sys.exit(main())
