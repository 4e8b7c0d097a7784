"""
`make bench`: run every benchmark in bench/ and print their tables.

Each benchmark is a module here with a main(); run one alone with `python -m bench.<name>`.
Figures go into docs/BENCHMARKS.md by hand, with the machine they were measured on.
"""

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    wanted = set(argv)
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))
    failed = []
    for name in names:
        if wanted and name not in wanted:
            continue
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            result = module.main()
        except Exception as exc:  # one benchmark's failure should not hide the others' figures
            print(f"bench.{name} failed: {exc!r}")
            failed.append(name)
            continue
        if result not in (None, 0):
            failed.append(name)
        print(f"(bench.{name} took {time.monotonic() - started:.1f} s)")
    if failed:
        print(f"\nFailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
