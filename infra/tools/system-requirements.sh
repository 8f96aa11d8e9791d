#!/usr/bin/env bash
# The system packages `make test` needs beyond Python: Debian's Chromium and its driver,
# for the browser tests (tests/e2e; Playwright drives the system browser and never
# downloads one). Run first by `make test`: when a package is missing it is installed
# through apt-get if this user may (root, or sudo without a password), otherwise the
# run stops at once with the one command to run, before anything else has started.
set -euo pipefail

missing=()
command -v chromium > /dev/null || missing+=(chromium)
command -v chromedriver > /dev/null || missing+=(chromium-driver)
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

install="apt-get install -y --no-install-recommends ${missing[*]}"
if ! command -v apt-get > /dev/null; then
  echo "make test needs Chromium (${missing[*]}) for the browser tests, and this is not a Debian/Ubuntu" \
    "system: install Chromium and chromedriver with your package manager, then run make test again." >&2
  exit 1
fi
if [[ "$(id -u)" -eq 0 ]]; then
  sudo=()
elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
  sudo=(sudo)
else
  echo "make test needs ${missing[*]} for the browser tests, and installing them needs root. Run:" >&2
  echo "  sudo apt-get update && sudo $install" >&2
  echo "then make test again." >&2
  exit 1
fi

echo "make test: installing ${missing[*]} with apt-get (the browser tests need them)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
