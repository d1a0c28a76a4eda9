"""``python -m metarl.extras.toy``: the same as ``metarl toy``."""

from metarl.extras.toy import main

main()
