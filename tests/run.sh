#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs them all:
# a virtual environment with requirements-dev.txt, Debian's Chromium for the browser tests,
# Debian's DejaVu fonts for the photos of digits (aelab/photos.py), and MNIST in the data folder
# the app uses (README, Data), downloaded there when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$missing fonts-dejavu-core"
if [ -n "$missing" ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null
fi
.venv/bin/python -m aelab data mnist  # offline without MNIST: one line naming the folder and files, then stop
exec .venv/bin/python -m pytest "$@"
