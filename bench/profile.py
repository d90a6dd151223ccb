"""Summarises a py-spy profile in raw (collapsed) form: where the server's time goes.

    python -m bench.profile PROFILE.txt [--top 25] [--only parley]

Prints the functions with the most samples on top of the stack (self) and anywhere in it
(inclusive), with line numbers dropped so that a function counts as one.
"""

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def _function(frame: str) -> str:
    return _LINE.sub(")", frame.strip())


def summarise(path: Path, *, top: int, only: str | None) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [_function(frame) for frame in stack.split(";")]
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if total == 0:
        return f"{path}: no samples"

    def table(title: str, counts: Counter[str]) -> list[str]:
        rows = [(name, n) for name, n in counts.most_common() if only is None or only in name][:top]
        return [title, *(f"{n / total:7.1%}  {name}" for name, n in rows), ""]

    return "\n".join(
        [
            f"{path}: {total} samples",
            "",
            *table("self (top of the stack):", own),
            *table("inclusive (anywhere in the stack):", inclusive),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", help="list only functions whose name or file contains this")
    args = parser.parse_args()
    for path in args.profiles:
        print(summarise(path, top=args.top, only=args.only))


if __name__ == "__main__":
    main()
