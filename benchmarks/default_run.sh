#!/usr/bin/env bash
# The default run on sentiment and trec (no flag but --task), each from an empty response cache;
# prints the load average beside the start and end of each. Results: benchmarks/results/default_run.md
set -euo pipefail
work=$(mktemp -d)
for task in sentiment trec; do
  echo "== $task start $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)"
  PROMPTLIFT_THREADS=1 PROMPTLIFT_CACHE="$work/cache-$task" promptlift optimize --task "$task" --run-dir "$work/$task"
  echo "end $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)"
done
