#!/usr/bin/env bash
# Planning at scale: a 1,000,000-run design planned and stored, then `simforge
# status` on it. Targets (issue 2): plan in under 20 s with under 1 GiB peak RSS;
# status in under 1 s.
#
#   bash bench/planning.sh            # N=1000000
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
cargo build --release -q -p simforge -p simforge-bench
TARGET=${CARGO_TARGET_DIR:-target}/release
# Work under the build directory: /tmp can sit on a slower mount than the project.
mkdir -p "${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/study.yaml" <<YAML
name: million
simulator: {command: ["true"]}
parameters:
  a: {range: [0.1, 10], scale: log}
  b: {range: [0, 1]}
  c: {range: [1, 64], type: integer}
  d: {choice: [red, green, blue]}
design: {sampler: sobol, samples: $N, seed: 1}
YAML
echo "planning $N runs (sobol, 4 parameters)"
"$TARGET/measure" "$TARGET/simforge" plan "$work/study.yaml" 2>&1
echo "status on the planned store"
"$TARGET/measure" "$TARGET/simforge" status "$work/study.yaml" 2>&1
echo "re-plan of an unchanged study (resume path)"
"$TARGET/measure" "$TARGET/simforge" plan "$work/study.yaml" 2>&1
