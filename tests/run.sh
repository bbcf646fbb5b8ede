#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs every tier (unit, app, system):
# a virtual environment with aelab, its test tools and the diffusers extra (`pip install -e .[dev,diffusers]`), Debian's Chromium for the browser tests,
# Debian's DejaVu fonts for the photos of digits (aelab/data/photos.py), and MNIST in the data folder
# the app uses (docs/data.md), downloaded there when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,diffusers]"
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$missing fonts-dejavu-core"
if [ -n "$missing" ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null
fi
.venv/bin/python -m aelab data mnist  # offline without MNIST: one line naming the folder and files, then stop
# The habits (configured in pyproject.toml): lint, formatting and types, before any test runs.
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy
# No arguments: every tier, in one process (`pytest` alone runs the quick ones, unit and app, on two workers);
# arguments go to pytest as typed.
exec .venv/bin/python -m pytest -n 0 "${@:-tests}"
