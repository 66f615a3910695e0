#!/usr/bin/env sh
# Starts openrouter-proxy from the project folder (Linux, macOS). Creates .env from
# .env.example on first run; extra arguments go to the proxy (e.g. --demo).
set -e
cd "$(dirname "$0")/.."
if [ ! -f .env ]; then
  cp .env.example .env
  echo "Created .env from .env.example: put your OpenRouter key in OPENROUTER_API_KEY."
fi
exec cargo run --release -- "$@"
