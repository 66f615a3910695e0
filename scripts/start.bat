@echo off
rem Starts openrouter-proxy from the project folder (Windows). Creates .env from
rem .env.example on first run; extra arguments go to the proxy (e.g. --demo).
cd /d "%~dp0.."
if not exist .env (
  copy .env.example .env >nul
  echo Created .env from .env.example: put your OpenRouter key in OPENROUTER_API_KEY.
)
cargo run --release -- %*
