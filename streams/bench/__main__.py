"""``python -m dispatchbus.bench`` (``make bench``): see :mod:`dispatchbus.bench.runner`."""

import sys

from .runner import main

sys.exit(main())
