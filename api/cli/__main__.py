"""`python -m mmsearch.api.cli`: the same as the `mmsearch` command."""

import sys

from mmsearch.api.cli.main import main

sys.exit(main())
