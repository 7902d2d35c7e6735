"""``python -m evonas.cli ...``: the ``evonas`` command."""

import sys

from evonas.cli.commands import main

sys.exit(main())
