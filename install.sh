#!/usr/bin/env bash
# Sets up OMS in ./.venv. Idempotent: run it again after a pull.
#   ./install.sh         the node: Python packages and an ffmpeg binary
#   ./install.sh --dev   also the test and lint tools and a Chromium for the player tests
set -euo pipefail
cd "$(dirname "$0")"

dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python=$candidate; break
    fi
  done
fi
[ -n "$python" ] || die "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)"
"$python" -c 'import venv, ensurepip' 2>/dev/null ||
  die "$python lacks venv/ensurepip (on Debian: apt-get install python3-venv)"

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($python --version 2>&1)"
  "$python" -m venv .venv || die "could not create .venv"
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check --quiet)

if [ "$dev" = 1 ]; then target='.[dev]'; else target='.'; fi
say "installing OMS and its Python packages ($target)"
"${pip[@]}" install --editable "$target" || die "pip could not install the Python packages (see above)"

# ffmpeg: a system binary when there is one, else the static build in the imageio-ffmpeg wheel.
# OMS finds either on its own (setting media.ffmpeg = "auto"); this only checks that one works.
ffmpeg_line=$(.venv/bin/oms doctor --only ffmpeg 2>&1) || die "no working ffmpeg: $ffmpeg_line"
say "$ffmpeg_line"

if [ "$dev" = 1 ]; then
  chromium=""
  for candidate in chromium chromium-browser; do
    if command -v "$candidate" >/dev/null 2>&1; then chromium=$(command -v "$candidate"); break; fi
  done
  if [ -z "$chromium" ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      say "installing Debian's chromium for the player tests"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null || die "apt-get update failed"
      apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null ||
        die "apt-get could not install chromium"
      chromium=$(command -v chromium) || die "chromium installed but not on PATH"
    else
      die "the browser tests need Chromium: install your distribution's 'chromium' package (as root on Debian: apt-get install chromium), then run ./install.sh --dev again"
    fi
  fi
  say "browser for the player tests: $chromium"
fi
say "done"
