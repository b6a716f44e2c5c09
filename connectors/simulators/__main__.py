"""``python -m dispatchbus.connectors.simulators``: see :mod:`.run`."""

import sys

from .run import main

sys.exit(main())
