"""``python -m metarl``: the same command line as the ``metarl`` entry point."""

from metarl.run.cli import main

raise SystemExit(main())
