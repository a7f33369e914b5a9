#!/usr/bin/env bash
# Where asyncloop-lint spends its time: one in-process run (-j 1, --no-cache) under cProfile
# (pyinstrument instead, when it is installed in the bench venv), then the top functions.
#   bash bench/profile.sh [mixed|async|large] [how many entries, default 25] [paths in the corpus, default .]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
corpus=${1:-async}
top=${2:-25}
shift $(( $# < 2 ? $# : 2 ))
paths=("${@:-.}")
py=${PYTHON:-python3}
[ -f "$here/corpus/$corpus/.bench-manifest.json" ] && [ -x "$here/.venv-asyncloop/bin/python" ] \
  || "$py" "$here/run.py" --prepare --corpus "$corpus"
al_py="$here/.venv-asyncloop/bin/python"
args=(-m asyncloop_lint --isolated --no-cache --no-respect-gitignore -j 1 -q "${paths[@]}")
mkdir -p "$here/results"
cd "$here/corpus/$corpus"
if "$al_py" -c "import pyinstrument" 2>/dev/null; then
  "$al_py" -m pyinstrument --show-all -o "$here/results/profile-$corpus.txt" "${args[@]}" >/dev/null || [ $? -eq 1 ]
  head -n 80 "$here/results/profile-$corpus.txt"
  exit 0
fi
out="$here/results/profile-$corpus.pstats"
TIMEFORMAT="asyncloop-lint -j 1 --no-cache on corpus/$corpus under cProfile: %R s wall"
time "$al_py" -m cProfile -o "$out" "${args[@]}" >/dev/null || [ $? -eq 1 ]
"$al_py" - "$out" "$top" <<'PY'
import pstats, sys
stats = pstats.Stats(sys.argv[1])
stats.sort_stats("tottime").print_stats(int(sys.argv[2]))
stats.sort_stats("cumulative").print_stats(int(sys.argv[2]))
PY
