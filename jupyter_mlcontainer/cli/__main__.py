"""`python -m jupyter_mlcontainer.cli`: the command line without the `jupyter` launcher."""

import sys

from . import main

sys.exit(main())
