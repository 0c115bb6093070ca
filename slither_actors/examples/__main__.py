"""``python -m slither_actors.examples``: list the demos or run some of them."""

from __future__ import annotations

import argparse
import sys

from slither_actors.examples import DEMOS


def main(argv: list[str] | None = None) -> int:
    """List the demos (no arguments), or run the named ones, or all of them with --all."""
    parser = argparse.ArgumentParser(
        prog="python -m slither_actors.examples",
        description="Run slither_actors demos. Without a name, list them.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="demos to run")
    parser.add_argument("--all", action="store_true", help="run every demo")
    options = parser.parse_args(argv)

    unknown = [name for name in options.names if name not in DEMOS]
    if unknown:
        parser.error(f"unknown demo {', '.join(unknown)}; choose from {', '.join(DEMOS)}")
    names = list(DEMOS) if options.all else options.names
    if not names:
        print("demos (run one with: python -m slither_actors.examples NAME, or --all):")
        for demo in DEMOS.values():
            print(f"  {demo.name:<14} {demo.summary}")
        return 0
    for name in names:
        print(f"=== {name}: {DEMOS[name].summary}")
        DEMOS[name].run()
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
