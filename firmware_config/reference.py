"""The key reference in ``firmware_config/README.md``, written from the declared tables, so
that what the installer reads is what the reader checks.

    python -m firmware_config.reference          # print the section
    python -m firmware_config.reference --write  # put it into README.md
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from firmware_config.schema import DOCUMENT
from firmware_config.settings import (
    REQUIRED,
    Derived,
    Setting,
)
from firmware_config.table_shapes import (
    Table,
    Variants,
    settings_of,
)

README = Path(__file__).parent / "README.md"
HEADING = "## Reference"


def _default_text(default: object) -> str:
    if default is REQUIRED:
        return "—"
    if default is None:
        return "none"
    if isinstance(default, Derived):
        return default.shown
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    # A TOML basic string is a JSON string for the escapes used here ("\r\n").
    return f"`{json.dumps(default, ensure_ascii=False)}`"


def _row(name: str, setting: Setting, only: str = "") -> str:
    return (f"| `{name}` | {setting.type_text()} | {_default_text(setting.default)} | "
            f"{only}{setting.doc} |")


def _rows(shape: type | Variants) -> list[str]:
    if not isinstance(shape, Variants):
        return [_row(name, setting) for name, setting in settings_of(shape)]
    rows = [_row(shape.key, shape.kind())]
    for name, setting, takers in shape.all_keys():
        only = "" if len(takers) == len(shape.by_value) else (
            ", ".join(f"`{t}`" for t in takers) + " only. ")
        rows.append(_row(name, setting, only))
    return rows


def render() -> str:
    """The whole reference section, from its heading to the end of the last table."""
    lines = [HEADING, "", "\"—\" in the default column means required."]
    for part in DOCUMENT:
        title = f"`[{part.name}]`" if isinstance(part, Table) else part.heading
        intro = textwrap.fill(part.intro, width=92, break_long_words=False,
                              break_on_hyphens=False)
        lines += ["", f"### {title}", "", intro, "",
                  "| key | type | default | meaning |", "|---|---|---|---|", *_rows(part.shape)]
    return "\n".join(lines) + "\n"


def section_of(readme: str) -> str:
    """The reference section as it stands in the text of README.md."""
    start = readme.index(f"\n{HEADING}\n") + 1
    end = readme.find("\n## ", start)
    return readme[start:end if end >= 0 else len(readme)].rstrip("\n") + "\n"


def write(readme: Path = README) -> bool:
    """Put the rendered section into ``readme``; whether it changed."""
    text = readme.read_text(encoding="utf-8")
    old = section_of(text)
    new = render()
    if old == new:
        return False
    readme.write_text(text.replace(old, new, 1), encoding="utf-8")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Print the section, or with ``--write`` update README.md."""
    parser = argparse.ArgumentParser(prog="python -m firmware_config.reference",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"update {README}")
    args = parser.parse_args(argv)
    if args.write:
        print(f"{README}: {'updated' if write() else 'already up to date'}")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
