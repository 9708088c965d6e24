"""``python -m reqfin_async`` — the same as the ``reqfin-async`` command."""

import sys

from .cli import main

sys.exit(main())
