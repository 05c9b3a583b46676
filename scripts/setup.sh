#!/usr/bin/env bash
# Install clusterlink and its test tools into .venv. Safe to run again: it only does what is missing.
#   bash scripts/setup.sh            # .venv with clusterlink (editable) and the test extras
#   bash scripts/setup.sh --browser  # also Debian's chromium, for the browser tests
# Needs Python 3.11 with pip (python3.11, or python3 if that is 3.11; or set PYTHON=/path/to/python).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

browser=0
for arg in "$@"; do
    case "$arg" in
        --browser) browser=1 ;;
        -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3 python; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    return 1
}

if [ ! -x .venv/bin/python ]; then
    py=$(find_python) || { echo "setup.sh: Python 3.11 not found (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
    echo "setup.sh: creating .venv with $py"
    "$py" -m venv .venv
fi

# Reinstall only when pyproject.toml changed, or .venv has no editable install of this checkout.
stamp=.venv/.clusterlink-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
installed_here() {
    .venv/bin/python -I -c 'import pathlib, sys, experiments
sys.exit(pathlib.Path(experiments.__file__).resolve().parents[1] != pathlib.Path(sys.argv[1]).resolve())' \
        "$PWD" >/dev/null 2>&1
}
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x .venv/bin/clusterlink ] || ! installed_here; then
    echo "setup.sh: installing clusterlink and dependencies into .venv (pip, a few minutes the first time)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
    echo "$want" > "$stamp"
fi

# numba compiles the model's kernels on first use (~40 s once per machine; cached on disk after)
echo "setup.sh: compiling the model's kernels if needed (about 40 s the first time)"
.venv/bin/python scripts/warm_kernels.py

if [ "$browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "setup.sh: installing Debian's chromium (apt-get) for the browser tests"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
fi
echo "setup.sh: ready (.venv/bin/clusterlink)"
