"""``python -m judgekit.cli``: the ``judgekit`` command."""

import sys

from judgekit.cli import main

sys.exit(main())
