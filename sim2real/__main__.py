"""``python -m sim2real``: the same command line as the ``sim2real`` console script."""

from sim2real.cli import main

raise SystemExit(main())
