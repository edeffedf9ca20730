"""`make bench` (python -m bench): every figure in one run, printed as a table, written to a
results file, and (with --docs) to docs/PERFORMANCE.md with its plots. The parts: the run
(bench/run.py, each measure in a module of its own), the bill (bill.py, summary.py), the text
tables (tables.py), the plots (plots.py), and the page (page.py, its words in
PERFORMANCE.md.template). A new figure: its measure's module, a line in run.py, and where it
shows, in tables.py and the template.

    python -m bench                         # the load curve, 20 + 40 metered orders, 5 cold starts, 50 events
    python -m bench --rates 1,2 --step-seconds 3 --metered 3 --mixed 4 --repeat 1 --events 2 --out /tmp/bench
                                            # the test's tiny run (tests/bench/conftest.py)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench import DOCS, PRICES, ROOT, capacity
from bench.page import performance_page
from bench.plots import plots
from bench.run import run
from bench.summary import bill_of
from bench.tables import table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates",
        type=lambda text: [int(r) for r in text.split(",")],
        default=[1, 2, 4, 6, 8, 10, 12],
        help="orders a second, one step each (comma-separated)",
    )
    parser.add_argument("--step-seconds", type=float, default=20, help="how long each rate is held")
    parser.add_argument("--metered", type=int, default=20, help="happy-path orders metered one at a time")
    parser.add_argument("--mixed", type=int, default=40, help="orders of a day's mix metered one at a time")
    parser.add_argument("--repeat", type=int, default=5, help="cold starts per function")
    parser.add_argument("--events", type=int, default=50, help="warm events per consumer")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the results file goes")
    parser.add_argument("--docs", action="store_true", help="also write docs/PERFORMANCE.md and its plots")
    parser.add_argument(
        "--page-only",
        action="store_true",
        help="no run: rewrite docs/PERFORMANCE.md and its plots from docs/performance/results.json",
    )
    args = parser.parse_args(argv)
    if args.page_only:
        results = json.loads((DOCS / "performance" / "results.json").read_text())
        # the bill and the floor derived again from the counts measured (bench/bill.py may have changed)
        results["bill"] = bill_of(results["endToEnd"], PRICES, results["coldStart"])
        plots(results, DOCS / "performance")
        (DOCS / "PERFORMANCE.md").write_text(performance_page(results))
        print(f"wrote {DOCS / 'PERFORMANCE.md'} from the results of {results['when']}")
        capacity.main()
        return 0

    results = run(args)
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {args.out / 'results.json'} ({results['seconds']} s)")
    if args.docs:
        plots(results, DOCS / "performance")
        (DOCS / "performance" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (DOCS / "PERFORMANCE.md").write_text(performance_page(results))
        print(f"wrote {DOCS / 'PERFORMANCE.md'}")
        capacity.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
