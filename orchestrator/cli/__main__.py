"""``python -m orchestrator.cli``: the ``sweep`` command."""

import sys

from orchestrator.cli.commands import main

sys.exit(main())
