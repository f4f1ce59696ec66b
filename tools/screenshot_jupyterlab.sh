#!/usr/bin/env bash
# Screenshot of JupyterLab with nbs/train.ipynb open -> docs/jupyterlab.png (the image the README shows).
#
# Starts `jupyter lab` headless on 127.0.0.1 (a free port, a generated token, no browser, root_dir = the repository),
# opens /lab/tree/nbs/train.ipynb in headless Chromium, writes the screenshot, and stops the server (always, on exit).
# Needs: pip install -e ".[dev]" (JupyterLab) and Chromium (Debian: apt-get update && apt-get install -y chromium).
#
# Usage: tools/screenshot_jupyterlab.sh [OUT.png]            (default: docs/jupyterlab.png)
# Environment: BUDGET_MS   Chromium's virtual-time budget, time JupyterLab gets to render (default 30000)
#              WINDOW      window size (default 1400,900)
#              CHROMIUM    the browser binary (default: chromium, else chromium-browser, google-chrome)
#              PYTHON      the Python that has jupyterlab (default: python)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/docs/jupyterlab.png}"
BUDGET_MS="${BUDGET_MS:-30000}"
WINDOW="${WINDOW:-1400,900}"
PYTHON="${PYTHON:-python}"
START_TIMEOUT=60   # s

if [ -z "${CHROMIUM:-}" ]; then
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then CHROMIUM="$b"; break; fi
  done
fi
[ -n "${CHROMIUM:-}" ] || { echo "no chromium found (Debian: apt-get update && apt-get install -y chromium)" >&2; exit 1; }
"$PYTHON" -c "import jupyterlab" 2>/dev/null || { echo "jupyterlab is not installed: pip install -e '.[dev]'" >&2; exit 1; }

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true          # jupyter_server shuts its kernels down on SIGTERM
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
TOKEN="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(24))')"
ROOT_FLAG=()
[ "$(id -u)" = 0 ] && ROOT_FLAG=(--allow-root)

# Runtime files, lab settings and the workspace go to a temporary folder: the user's JupyterLab state is left alone.
# Settings: no autosave (the notebook on disk is never written), no "fetch Jupyter news?" pop-up in the picture.
mkdir -p "$TMP/settings/@jupyterlab/docmanager-extension" "$TMP/settings/@jupyterlab/apputils-extension"
echo '{"autosave": false}' >"$TMP/settings/@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"
echo '{"fetchNews": "false", "checkForUpdates": false}' \
  >"$TMP/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
# Nothing is fetched from the internet: no news feed, no update check, no PyPI extension manager.
JUPYTER_RUNTIME_DIR="$TMP/runtime" JUPYTERLAB_SETTINGS_DIR="$TMP/settings" JUPYTERLAB_WORKSPACES_DIR="$TMP/workspaces" \
  "$PYTHON" -m jupyterlab --no-browser --ip=127.0.0.1 --port="$PORT" --ServerApp.port_retries=0 \
    --IdentityProvider.token="$TOKEN" --ServerApp.root_dir="$ROOT" \
    --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
    --LabApp.extension_manager=readonly "${ROOT_FLAG[@]}" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + START_TIMEOUT))
until curl -sf -o /dev/null -H "Authorization: token $TOKEN" "http://127.0.0.1:$PORT/api/status"; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    echo "jupyter lab did not start within ${START_TIMEOUT} s:" >&2; tail -30 "$TMP/server.log" >&2; exit 1
  fi
  sleep 0.3
done
echo "jupyter lab up on 127.0.0.1:$PORT; screenshot with a ${BUDGET_MS} ms budget..."

mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
# --no-sandbox: Chromium refuses to run as root with its sandbox; only our own localhost server is opened.
timeout 300 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$TMP/chromium" --window-size="$WINDOW" --virtual-time-budget="$BUDGET_MS" \
  --screenshot="$OUT" "http://127.0.0.1:$PORT/lab/tree/nbs/train.ipynb?token=$TOKEN" \
  >"$TMP/chromium.log" 2>&1 || { tail -30 "$TMP/chromium.log" >&2; exit 1; }
[ -s "$OUT" ] || { echo "no screenshot written:" >&2; tail -30 "$TMP/chromium.log" >&2; exit 1; }
echo "wrote $OUT"
