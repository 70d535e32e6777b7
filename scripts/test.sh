#!/usr/bin/env bash
# The project's one test command: installs what the test suite needs, then runs all of it.
#
#   bash scripts/test.sh [extra pytest args...]      e.g.  bash scripts/test.sh -k websocket -x
#
# Works unattended (no stdin, CI=true) on a fresh Debian 12 machine as root with python3 + pip.
# Idempotent: apt and pip are only touched when something is missing or out of date.
# Env knobs: TEST_TIMEOUT (per-test seconds, default 60), TEST_WORKERS (pytest-xdist workers,
# default 2), FORCE_PIP_INSTALL=1 (always run the pip install step).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"

# ---------------------------------------------------------------------------------------------
# 1. System packages. Adding one is adding one word here.
#    chromium: the browser Playwright drives in tests/test_browser.py (/usr/bin/chromium).
#    redis-server: started by tests/redis_server.py for tests/test_broadcast_redis.py.
# ---------------------------------------------------------------------------------------------
APT_PACKAGES=(chromium redis-server)

export DEBIAN_FRONTEND=noninteractive

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != "installed" ]; then
        missing+=("$pkg")
    fi
done

# node + npm for tests/node (the official AsyncAPI parser): any node >= 18 already on the PATH will do
if ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "test.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        SUDO=(sudo -n)
    fi
    echo "test.sh: installing system packages: ${missing[*]}"
    APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -qq "${missing[@]}" </dev/null
fi

# ---------------------------------------------------------------------------------------------
# 2. Python dependencies: `pip install -e '.[test]'`, skipped when the editable install already
#    points at this checkout and every requirement in pyproject.toml (core + `test` extra) is
#    satisfied by what is installed.
# ---------------------------------------------------------------------------------------------
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1
# Debian's own /usr/bin/python3 is "externally managed" (PEP 668); this is a throwaway test box.
export PIP_BREAK_SYSTEM_PACKAGES="${PIP_BREAK_SYSTEM_PACKAGES:-1}"

deps_ok() {
    # Run from / so that the checkout itself is not on sys.path: `fastrapi` must come from the
    # editable install, and that install must be this checkout.
    (cd / && "$PYTHON" - "$ROOT" <<'PY'
import importlib.metadata as md
import importlib.util
import os
import sys
import tomllib

root = sys.argv[1]
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement

with open(os.path.join(root, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]

spec = importlib.util.find_spec(project["name"].replace("-", "_"))
if spec is None or not spec.origin or not os.path.realpath(spec.origin).startswith(os.path.realpath(root) + os.sep):
    sys.exit(1)

reqs = list(project.get("dependencies", [])) + list(project.get("optional-dependencies", {}).get("test", []))
for line in reqs:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": "test"}):
        continue
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        sys.exit(1)
    if req.specifier and not req.specifier.contains(version, prereleases=True):
        sys.exit(1)
PY
    ) >/dev/null 2>&1
}

if [ "${FORCE_PIP_INSTALL:-0}" = "1" ] || ! deps_ok; then
    echo "test.sh: pip install -e '.[test]'"
    "$PYTHON" -m pip install -q -e '.[test]'
fi

# ---------------------------------------------------------------------------------------------
# 3. Node packages of the suite (tests/node/package.json): @asyncapi/parser validates the AsyncAPI
#    documents and @asyncapi/react-component's files render /asyncapi in tests/test_asyncapi.py.
#    `npm ci` only when node_modules is missing or older than package-lock.json.
# ---------------------------------------------------------------------------------------------
NODE_DIR="$ROOT/tests/node"
if [ ! -f "$NODE_DIR/node_modules/.package-lock.json" ] || \
   [ "$NODE_DIR/package-lock.json" -nt "$NODE_DIR/node_modules/.package-lock.json" ]; then
    echo "test.sh: npm ci in tests/node"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

# ---------------------------------------------------------------------------------------------
# 4. The whole suite, in parallel, with a per-test timeout. Extra args go to pytest.
# ---------------------------------------------------------------------------------------------
exec "$PYTHON" -m pytest -n "${TEST_WORKERS:-2}" -q --timeout="${TEST_TIMEOUT:-60}" "$@"
