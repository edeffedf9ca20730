#!/usr/bin/env bash
# The bill of an older commit, counted by today's meter, for docs/PERFORMANCE.md's "before"
# column: scripts/bench_baseline.sh 3b7d394 (METERED=... for a shorter run).
# Checks the commit out beside this one, lays today's meter and bill over it (nothing else),
# runs the benchmark there and keeps its bill in docs/performance/baseline.json.
set -euo pipefail
commit=${1:?usage: scripts/bench_baseline.sh COMMIT}
root=$(cd "$(dirname "$0")/.." && pwd)
tree=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add --detach "$tree" "$commit" >/dev/null
ln -s "$root/.venv" "$tree/.venv"
ln -s "$root/node_modules" "$tree/node_modules"
cp "$root/localcloud/meter.py" "$tree/localcloud/"
cp "$root"/bench/*.py "$root/bench/prices.json" "$root/bench/PERFORMANCE.md.template" "$tree/bench/"
(cd "$tree" && .venv/bin/python -m bench --metered "${METERED:-20}" --out "$tree/out")
"$root/.venv/bin/python" - "$tree/out/results.json" "$root/docs/performance/baseline.json" "$commit" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
keep = {"commit": sys.argv[3], "when": results["when"], "machine": results["machine"], "bill": results["bill"],
        "perOrder": results["endToEnd"]["perOrder"], "perOrderMixed": results["endToEnd"]["perOrderMixed"]}
json.dump(keep, open(sys.argv[2], "w"), indent=2)
print(f"wrote {sys.argv[2]}")
PY
