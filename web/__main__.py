"""`python -m web` is `robodine web`."""

import sys

from robodine.cli import main

raise SystemExit(main(["web", *sys.argv[1:]]))
