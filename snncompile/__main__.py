"""``python -m snncompile``: the ``snncompile`` command."""

import sys

from snncompile.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
