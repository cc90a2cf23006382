#!/usr/bin/env bash
# The admin console (admin/): `deps` installs its npm packages (npm ci, only when package-lock.json changed),
# `build` makes the production build the gateway serves at /admin, `maybe-build` builds when Node.js is there and
# otherwise says how, `browser` installs Debian's chromium for the browser tests when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../admin"

need_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "admin: Node.js 20+ and npm are needed (https://nodejs.org or your package manager)" >&2
    return 1
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "admin: Node.js $(node -v) is too old; the admin console needs Node.js 20+" >&2
    return 1
  fi
}

deps() {
  need_node
  # npm ci only when the lock file changed since the last install (a stamp inside node_modules).
  if [ ! -f node_modules/.ci-stamp ] || [ package-lock.json -nt node_modules/.ci-stamp ]; then
    npm ci --no-audit --no-fund --loglevel=error
    touch node_modules/.ci-stamp
  fi
}

build() {
  deps
  npm run --silent build
  echo "admin: built admin/dist (served by the gateway at /admin/)"
}

browser() {
  [ -x /usr/bin/chromium ] && return 0
  echo "admin: installing Debian's chromium for the browser tests" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
      echo "admin: not root and no sudo; install chromium yourself (apt-get install chromium)" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
  [ -x /usr/bin/chromium ] || { echo "admin: chromium still missing" >&2; exit 1; }
}

case "${1:-}" in
  deps) deps ;;
  build) build ;;
  maybe-build)
    if need_node 2>/dev/null; then
      build || echo "admin: the build failed; the API works, /admin will answer 503 until \`make admin\` succeeds" >&2
    else
      echo "admin: Node.js 20+ not found, so the admin console (/admin) is not built; install Node.js 20+ and run \`make admin\`" >&2
    fi
    ;;
  browser) browser ;;
  *) echo "usage: scripts/admin.sh deps|build|maybe-build|browser" >&2; exit 2 ;;
esac
