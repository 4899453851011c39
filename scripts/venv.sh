#!/usr/bin/env bash
# Create or refresh one venv from a requirements file and its constraints (the pins), with uv.
#
#   scripts/venv.sh VENV REQUIREMENTS CONSTRAINTS [--editable]
#
# uv comes from PATH, else from the project's own bootstrap copy (.tools/uv, made once with
# Python 3.13's pip, pinned below). If uv cannot be had, pip does the same install, slower, and
# a line says so. Prints one line per step with its time, nothing of the installers' noise
# (their output is shown only when a step fails). Needs PYTHON313 (the Makefile finds it).
set -euo pipefail

UV_VERSION=${MQTT_ACTIONS_UV_VERSION:-0.13.9} # the uv the project bootstraps (the env var is for testing the pip fallback)
venv=$1 requirements=$2 constraints=$3 editable=${4:-}
python=${PYTHON313:?PYTHON313 is not set: run this through make}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

now() { echo "${EPOCHREALTIME/./}"; } # microseconds, bash 5
done_line() { # done_line START "what it did"
  local tenths=$((($(now) - $1) / 100000))
  printf '==> %s: %s (%d.%d s)\n' "$venv" "$2" $((tenths / 10)) $((tenths % 10))
}
step() { # step "what it did" command... : run quietly, print the line with its time, show the log on failure
  local what=$1 start
  shift
  start=$(now)
  if ! "$@" >"$log" 2>&1; then
    echo "==> $venv: FAILED: $what" >&2
    cat "$log" >&2
    exit 1
  fi
  done_line "$start" "$what"
}

find_uv() {
  if [ -n "${UV:-}" ] && [ -x "$UV" ]; then echo "$UV"; return; fi
  if [ -x .tools/uv/bin/uv ]; then echo .tools/uv/bin/uv; return; fi
  command -v uv 2>/dev/null || true
}

bootstrap_uv() {
  rm -rf .tools/uv
  "$python" -m venv .tools/uv && .tools/uv/bin/pip install -q --disable-pip-version-check "uv==$UV_VERSION"
}

uv=$(find_uv)
if [ -z "$uv" ]; then
  start=$(now)
  if bootstrap_uv >"$log" 2>&1; then
    uv=.tools/uv/bin/uv
    done_line "$start" "fetched uv $UV_VERSION into .tools/uv (once per clone)"
  else
    rm -rf .tools/uv
    echo "==> $venv: uv $UV_VERSION could not be installed from PyPI ($( (grep -m1 -i error "$log" || tail -n1 "$log") | cut -c1-160)…)"
    echo "==> $venv: falling back to pip: same pins, about 2 minutes instead of seconds"
  fi
fi

# A venv of another Python (or a half-made one, or one pip cannot fill) is replaced, never patched.
if ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null \
  || { [ -z "$uv" ] && [ ! -x "$venv/bin/pip" ]; }; then
  rm -rf "$venv"
  if [ -n "$uv" ]; then
    step "created with $("$python" -V)" "$uv" venv --quiet --python "$python" "$venv"
  else
    step "created with $("$python" -V)" "$python" -m venv "$venv"
  fi
fi

# Compiled bytecode: these machines set PYTHONDONTWRITEBYTECODE and uv writes no .pyc unless
# asked, so without it every command start recompiles every module it imports (seconds).
if [ -n "$uv" ]; then
  install() { "$uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" "$@"; }
else
  install() { "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"; }
fi
step "installed $requirements (pinned by $constraints)" install -r "$requirements" -c "$constraints"
if [ "$editable" = --editable ]; then
  # setuptools' default editable mode imports a finder (pathlib, glob, re) in every Python start
  # of this venv: ~25 ms before any command runs, and a Ctrl-C in that window is a fatal error
  # of the interpreter's start-up. "compat" mode plus one .pth of plain paths imports nothing.
  step "installed this checkout (editable: mqtt-actions command)" install --no-deps -e . --config-settings editable_mode=compat
  purelib=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  printf '%s\n' "$PWD/cli" "$PWD/layers/core" >"$purelib/mqtt_actions_checkout.pth"
  # The checkout's own modules are imported from the tree: compile them too (stale ones are
  # recompiled in memory after an edit, as ever).
  step "compiled this checkout's bytecode" "$venv/bin/python" -m compileall -q -j 0 cli layers functions
fi
step "checked: every package at the version $constraints pins" "$venv/bin/python" scripts/check_pins.py "$constraints"
touch "$venv/.installed"
