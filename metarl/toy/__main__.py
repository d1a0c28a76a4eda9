"""``python -m metarl.toy``: the same as ``metarl toy``."""

from metarl.toy import main

main()
