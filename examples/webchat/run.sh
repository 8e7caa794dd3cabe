#!/usr/bin/env bash
# Web chat rating demo. First start the server in another terminal:
#   cargo run --release -- serve
# then run this script (from any folder) and open the URL it prints. RATELINE overrides
# the server URL, PAGE_PORT the port the customer's page is served on.
set -euo pipefail
# The page is served from this script's own folder, wherever it was run from.
here="$(cd "$(dirname "$0")" && pwd)"
[[ -f "$here/index.html" ]] || {
  echo "error: $here/index.html is missing: keep run.sh beside the page it serves" >&2
  exit 1
}

RATELINE="${RATELINE:-http://127.0.0.1:8080}"
RATELINE="${RATELINE%/}"
PAGE_PORT="${PAGE_PORT:-8000}"

# api METHOD PATH [JSON]: prints the response body, stops the script on any HTTP error.
api() {
  local out
  if ! out=$(curl -sS --fail-with-body -X "$1" -H 'content-type: application/json' \
      ${3:+--data "$3"} "$RATELINE$2"); then
    echo "error: $1 $2 failed${out:+: $out}" >&2
    exit 1
  fi
  printf '%s\n' "$out"
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
urlencode() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

curl -sS -o /dev/null "$RATELINE/healthz" || {
  echo "Rateline is not reachable at $RATELINE: start it with 'cargo run --release -- serve'" >&2
  exit 1
}
api PUT /v1/lines/webchat-demo '{"name": "Web chat demo",
  "rating": {"scale": "five_star", "delay_seconds": 0, "ask_resolved": true, "ask_comment_on_low": true},
  "webchat": {"allowed_origins": ["http://127.0.0.1:'"$PAGE_PORT"'", "http://localhost:'"$PAGE_PORT"'"]}}' >/dev/null
echo "line webchat-demo ready (1-5 stars, asks 'resolved?' and a comment on low ratings)"

session="demo-$(date +%s)"
api POST /v1/sessions "{\"id\": \"$session\", \"line_id\": \"webchat-demo\", \"channel\": \"webchat\",
  \"client\": {\"id\": \"visitor-1\", \"name\": \"Visitor\"}, \"operator_id\": \"op-1\"}" >/dev/null
token=$(api POST "/v1/sessions/$session/webchat-token" '{}' | json_field token)
echo "session $session opened"

python3 -m http.server "$PAGE_PORT" --bind 127.0.0.1 --directory "$here" >/dev/null 2>&1 &
page_server=$!
trap 'kill "$page_server" 2>/dev/null || true' EXIT

echo
echo "Open the customer site in your browser:"
echo "  http://127.0.0.1:$PAGE_PORT/?token=$(urlencode "$token")&rateline=$(urlencode "$RATELINE")"
echo
read -rp "Press Enter to close the chat as the operator... "
api POST "/v1/sessions/$session/close" '{"closed_by": "operator"}' >/dev/null
echo "Chat closed: the rating card appears in the browser. Rate it there (try 1-2 stars for the comment)."
read -rp "Press Enter when done to see the stored session... "
api GET "/v1/sessions/$session" | python3 -m json.tool
