#!/usr/bin/env bash
# The Python package's test suite from a clean clone: a fresh virtual
# environment under target/, the wheel built by `pip install ./python` (maturin,
# numpy, pandas, scipy and pytest from the package registry), then pytest on
# python/tests. The build reuses the root target directory's dependencies
# (profile `dev`, the one `cargo test` builds), so after `cargo test` only the
# library and the bindings compile. AEREC_BIN points the CLI round trips at
# the binary `cargo test` built.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
venv="$root/target/python-venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
start=$(date +%s)
CARGO_TARGET_DIR="$root/target" MATURIN_PEP517_ARGS="--profile dev" \
    "$venv/bin/python" -m pip install -q "./python[test]"
echo "python/test.sh: wheel built and installed in $(( $(date +%s) - start )) s"
if [ -z "${AEREC_BIN:-}" ] && [ -x "$root/target/debug/aerec" ]; then
    export AEREC_BIN="$root/target/debug/aerec"
fi
cd "$root/python/tests"
"$venv/bin/python" -m pytest -q -p no:cacheprovider .
