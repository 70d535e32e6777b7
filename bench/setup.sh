#!/usr/bin/env bash
# Build (or reuse) the benchmark virtualenvs under bench/.venvs/.
#
#   ours       BENCH_PYTHON (default python3): `pip install -e <repo>` + picows, uvloop, httptools
#              (the last three also serve the bare ceiling servers, so they are installed first and
#              the bare servers work even while our package does not install yet)
#   fastapi    BENCH_PYTHON: fastapi + uvicorn[standard]
#   fastrapi   python3.11 (BENCH_PY311 to override): published fastrapi==0.2.11 (cp311-only wheel)
#   load       BENCH_PYTHON: picows + uvloop (the WebSocket load client)
#   bench/realtime.py also needs broadcaster + redis in fastapi and redis + hiredis in ours: added to
#   reused venvs that predate them (ensure_pkgs)
#
# A venv is reused when its ".ok" stamp exists; a failed step leaves no stamp, so the next
# run retries it.  A failure in one venv does not stop the others; the exit code is 0 when
# all four are ready, 1 otherwise (run.py reports servers whose venv is missing as 'failed').
#   BENCH_REBUILD=1 bench/setup.sh   rebuild every venv from scratch
#   BENCH_VENVS=DIR                  put the venvs in DIR instead (e.g. one set per Python version:
#                                    BENCH_PYTHON=python3.12 BENCH_VENVS=bench/.venvs/py312 ...)
#   bench/setup.sh ours              build only the named venvs
set -u
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
VENVS="${BENCH_VENVS:-$BENCH_DIR/.venvs}"
PY="${BENCH_PYTHON:-python3}"
PY311="${BENCH_PY311:-python3.11}"
mkdir -p "$VENVS"

log() { printf '[setup] %s\n' "$*" >&2; }

# make_venv NAME PYTHON PIP-ARGS...
make_venv() {
    local name="$1" py="$2"; shift 2
    local dir="$VENVS/$name"
    if [[ "${BENCH_REBUILD:-0}" == 1 ]]; then rm -rf "$dir"; fi
    if [[ -f "$dir/.ok" ]]; then log "$name: reusing $dir"; return 0; fi
    if ! command -v "$py" >/dev/null 2>&1 && [[ ! -x "$py" ]]; then
        log "$name: interpreter '$py' not found"; return 1
    fi
    if [[ ! -x "$dir/bin/python" ]]; then
        log "$name: creating venv with $py ($("$py" --version 2>&1))"
        "$py" -m venv "$dir" || { log "$name: venv creation failed"; return 1; }
    fi
    local step
    for step in "$@"; do
        log "$name: pip install $step"
        local out rc
        # shellcheck disable=SC2086
        out="$("$dir/bin/python" -m pip install -q $step 2>&1)"; rc=$?
        printf '%s\n' "$out" | grep -v -e 'is ignored' -e '^$' >&2
        if [[ $rc -ne 0 ]]; then log "$name: FAILED: pip install $step"; return 1; fi
    done
    "$dir/bin/python" --version > "$dir/.ok" 2>&1
    "$dir/bin/python" -m pip freeze >> "$dir/.ok" 2>/dev/null
    log "$name: ready"
}

# ensure_pkgs NAME MODULES PIP-ARGS: install PIP-ARGS into a ready venv when `import MODULES` fails
ensure_pkgs() {
    local dir="$VENVS/$1"
    [[ -f "$dir/.ok" ]] || return 1
    "$dir/bin/python" -c "import $2" 2>/dev/null && return 0
    log "$1: pip install $3"
    # shellcheck disable=SC2086
    "$dir/bin/python" -m pip install -q $3 2>&1 | grep -v -e 'is ignored' -e '^$' >&2
    "$dir/bin/python" --version > "$dir/.ok" 2>&1
    "$dir/bin/python" -m pip freeze >> "$dir/.ok" 2>/dev/null
    "$dir/bin/python" -c "import $2" 2>/dev/null || { log "$1: FAILED: pip install $3"; return 1; }
}

want() { [[ $# -eq 0 ]] && return 0; local w; for w in "${SELECTED[@]}"; do [[ "$w" == "$1" ]] && return 0; done; return 1; }
SELECTED=("$@")
status=0
sel() { [[ ${#SELECTED[@]} -eq 0 ]] || want "$1"; }

if sel ours; then
    # (prometheus_client: the get-json-metrics scenario, the `metrics` extra)
    make_venv ours "$PY" "picows uvloop httptools orjson pydantic prometheus_client" "-e $REPO_DIR" || status=1
    # A reused venv may predate a dependency added to pyproject.toml: `pip install -e` again
    # (quick when nothing changed).
    if [[ -f "$VENVS/ours/.ok" ]]; then
        log "ours: refreshing the editable install (dependencies of pyproject.toml)"
        "$VENVS/ours/bin/python" -m pip install -q -e "$REPO_DIR[metrics]" 2>&1 | grep -v 'is ignored' >&2
        "$VENVS/ours/bin/python" --version > "$VENVS/ours/.ok" 2>&1
        "$VENVS/ours/bin/python" -m pip freeze >> "$VENVS/ours/.ok" 2>/dev/null
    fi
    # An editable install made while the package was incomplete (e.g. before fastrapi/__init__.py
    # existed, which setuptools records as a namespace package) goes stale: redo it when the
    # import does not work.
    check='import fastrapi; fastrapi.FastrAPI'
    if [[ -f "$VENVS/ours/.ok" ]] && ! (cd / && "$VENVS/ours/bin/python" -c "$check") 2>/dev/null; then
        log "ours: 'import fastrapi; fastrapi.FastrAPI' fails: reinstalling -e $REPO_DIR"
        "$VENVS/ours/bin/python" -m pip install -q --force-reinstall --no-deps -e "$REPO_DIR" 2>&1 | grep -v 'is ignored' >&2
        "$VENVS/ours/bin/python" -m pip install -q -e "$REPO_DIR" 2>&1 | grep -v 'is ignored' >&2
        if ! (cd / && "$VENVS/ours/bin/python" -c "$check") 2>/dev/null; then
            log "ours: still failing (core not finished?):"
            (cd / && "$VENVS/ours/bin/python" -c "$check") 2>&1 | tail -3 >&2
            status=1
        fi
    fi
    ensure_pkgs ours "redis, hiredis" "redis hiredis" || status=1  # the redis extra
fi
if sel fastapi; then
    make_venv fastapi "$PY" "fastapi uvicorn[standard]" || status=1
    ensure_pkgs fastapi "broadcaster, redis" "broadcaster redis" || status=1
fi
if sel fastrapi; then make_venv fastrapi "$PY311" "fastrapi==0.2.11" || status=1; fi
if sel load; then make_venv load "$PY" "picows uvloop" || status=1; fi
exit $status
