"""Cold starts and warm per-event cost alone, without the local cloud or the load curve: the
part of `make bench` a change to a handler moves, quick enough to run on two checkouts and
compare (about a minute on 2 cores):

    python -m bench.startup --repeat 7 --events 50 --out before.json     # on the old checkout
    python -m bench.startup --repeat 7 --events 50 --out after.json      # on the new one
    python -m bench.startup --compare before.json after.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def measure(repeat: int, events: int) -> dict:
    from bench import coldstart, warm

    cold = coldstart.measure(repeat)
    return {
        "repeat": repeat,
        "events": events,
        "baselineMs": cold["baselineMs"],
        "cold": {
            name: {
                "firstAnswerMs": f["firstAnswer"]["medianMs"],
                "importMs": f["import"]["medianMs"],
                "calls": f["calls"],
            }
            for name, f in cold["functions"].items()
        },
        "warm": {
            name: {"cpuMsPerEvent": w["cpuMsPerEvent"], "awsCallsPerEvent": w["awsCallsPerEvent"]}
            for name, w in warm.measure(events).items()
        },
    }


def compare(before: dict, after: dict) -> str:
    lines = [
        "| function | first answer, before (ms) | after (ms) | after/before | AWS calls before/after |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, old in before["cold"].items():
        new = after["cold"][name]
        lines.append(
            f"| {name} | {old['firstAnswerMs']} | {new['firstAnswerMs']} | "
            f"{new['firstAnswerMs'] / old['firstAnswerMs']:.2f} | {old['calls']}/{new['calls']} |"
        )
    lines += [
        "",
        "| consumer | CPU ms an event, before | after | after/before | AWS calls an event before/after |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, old in before["warm"].items():
        new = after["warm"][name]
        lines.append(
            f"| {name} | {old['cpuMsPerEvent']} | {new['cpuMsPerEvent']} | "
            f"{new['cpuMsPerEvent'] / old['cpuMsPerEvent']:.2f} | "
            f"{old['awsCallsPerEvent']}/{new['awsCallsPerEvent']} |"
        )
    ratios = [after["cold"][n]["firstAnswerMs"] / o["firstAnswerMs"] for n, o in before["cold"].items()]
    lines += [
        "",
        f"median first-answer ratio {statistics.median(ratios):.2f} "
        f"(baseline interpreter {before['baselineMs']} -> {after['baselineMs']} ms)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.startup", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7, help="cold starts per function")
    parser.add_argument("--events", type=int, default=50, help="warm events per consumer")
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    parser.add_argument(
        "--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="no run: the two files' figures side by side"
    )
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(path.read_text()) for path in args.compare)
        print(compare(before, after))
        return 0
    figures = measure(args.repeat, args.events)
    text = json.dumps(figures, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
