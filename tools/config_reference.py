"""Print the README's config reference: every key of each config kind with its default and doc.

python tools/config_reference.py        # the Markdown tables of `kind: supervised` and `rl`
"""

from __future__ import annotations

import dataclasses
from typing import Any

from metarl.rl.config import RLConfig
from metarl.run.config_schema import field_docs, plain_values
from metarl.supervised.config import SupervisedConfig


def rows(config: Any, prefix: str = "") -> list[str]:
    docs = field_docs(type(config))
    lines = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(value):
            lines += rows(value, key + ".")
            continue
        doc = docs.get(f.name, "").replace("|", "\\|").replace("``", "`")
        lines.append(f"| `{key}` | `{plain_values(value)}` | {doc} |")
    return lines


def main() -> None:
    for kind, config in (("supervised", SupervisedConfig()), ("rl", RLConfig())):
        print(f"`kind: {kind}`:\n\n| key | default | meaning |\n|---|---|---|")
        print("\n".join(rows(config)) + "\n")


if __name__ == "__main__":
    main()
