"""``python -m functions.cli``."""

import sys

from functions.cli.parser import main

sys.exit(main())
