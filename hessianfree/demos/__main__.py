"""``python -m hessianfree.demos NAME``: run a demo (see
:func:`hessianfree.demos.main`)."""

import sys

from hessianfree.demos.cli import main

sys.exit(main())
