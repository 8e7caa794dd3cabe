#!/usr/bin/env bash
# Property-based run of the HTTP API: schemathesis reads GET /openapi.json from a live
# `rateline serve` and sends it thousands of generated requests, valid and invalid. It
# fails on any 5xx and on any answer the description does not allow (status, content
# type, headers, body schema).
#
#   tests/schemathesis/run.sh                 # SQLite in a temporary folder
#   tests/schemathesis/run.sh postgres://…    # a PostgreSQL database (its data is kept)
#
# RATELINE_ST_SEED repeats a run: the seed a run prints at its end.
# RATELINE_ST_EXAMPLES (default 100) is the number of cases per operation and phase; CI
# runs fewer. The server runs with an admin key, as production does, so every endpoint
# is reached past authentication; its log is kept in target/schemathesis/server.log. An
# operation whose valid cases are all refused fails the run too (a rule the description
# leaves out); tests/schemathesis/hooks.py gives valid cases what only the server knows when
# they are sent, such as the current version for If-Match (docs/testing.md).
set -euo pipefail

cd "$(dirname "$0")/../.."
examples="${RATELINE_ST_EXAMPLES:-100}"
out="target/schemathesis"
mkdir -p "$out"
work="$(mktemp -d)"
server_pid=""
connector_pid=""
cleanup() {
    set +e # a killed process's status must not end the clean-up half way
    for pid in $connector_pid $server_pid; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

command -v st >/dev/null || python3 -m pip install --quiet -r tests/schemathesis/requirements.txt
cargo build --quiet --bin rateline
# Where cargo put it: CARGO_TARGET_DIR or the workspace's target/, as cargo itself decides.
rateline="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/rateline"

export RATELINE__DATABASE__URL="${1:-sqlite://$work/rateline.db}"
# A free port: bind to 0 in Python, release, hand it over.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export RATELINE__SERVER__ADDR="127.0.0.1:$port"
# Thousands of calls in seconds with one key: the per-key limit is not what is tested.
export RATELINE__LIMITS__KEY_PER_MINUTE=10000000 RATELINE__LIMITS__KEY_BURST=1000000
# The connector of the small world listens on loopback, which the outbound policy refuses
# unless it is allowed.
export RATELINE__OUTBOUND__ALLOWED_NETWORKS=127.0.0.0/8

"$rateline" migrate
key="$("$rateline" keys create --name schemathesis --role admin 2>/dev/null)"

"$rateline" serve >"$out/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do
    curl -sf "$base/readyz" >/dev/null && break
    sleep 0.1
done

# A little world, so generated calls reach past "no such session" into the engine: three
# lines (five stars, web chat, thumbs), two people with an address for each alert sink, a
# rated session with an appeal (the operator's, so that an admin may decide it), an open
# one, a web chat one, a rated one on the thumbs line, a helpdesk of each kind and a
# subscription. Those ratings stay low, for the inbox; the requests generated answers go to
# are two more sessions', one on each scale. A local connector answers the webhook lines' requests, the people's webhook
# alerts, the helpdesks' calls and the subscription's events.
python3 tests/schemathesis/connector.py "$work/connector.port" &
connector_pid=$!
for _ in $(seq 50); do [[ -s "$work/connector.port" ]] && break; sleep 0.1; done
api() { # METHOD PATH [BODY]: the answer's body; fails on a status >= 400
    curl -sf -X "$1" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$base$2"
}
field() { python3 -c "import json,sys; print(eval('json.load(sys.stdin)' + sys.argv[1]))" "$1"; }
connector="http://127.0.0.1:$(cat "$work/connector.port")/"
notify="\"notify\": {\"email\": \"sam@example.com\", \"telegram_chat_id\": 42, \"webhook_url\": \"$connector\"}"
# Sam supervises every line of the world, so an inbox action may assign any rating to him.
api PUT /v1/people/st-sup "{\"name\": \"Sam\", \"role\": \"supervisor\",
  \"lines\": [\"st-line\", \"st-chat\", \"st-thumbs\"], $notify}" >/dev/null
api PUT /v1/people/st-op "{\"name\": \"Olga\", \"role\": \"operator\", \"manager_id\": \"st-sup\", $notify}" >/dev/null
operator_key="$("$rateline" keys create --name st-operator --role operator --person st-op 2>/dev/null)"
api PUT /v1/lines/st-line "{\"name\": \"Support\", \"rating\": {\"delay_seconds\": 0, \"scale\": \"five_star\"},
    \"webhook\": {\"url\": \"$connector\", \"secret\": \"st-secret-of-the-connector\"},
    \"notify_low\": [{\"kind\": \"supervisor\", \"id\": \"st-sup\"}]}" >/dev/null
api PUT /v1/lines/st-chat '{"name": "Web chat"}' >/dev/null
api PUT /v1/lines/st-thumbs "{\"name\": \"Thumbs\", \"rating\": {\"delay_seconds\": 0, \"scale\": \"binary\"},
    \"webhook\": {\"url\": \"$connector\", \"secret\": \"st-secret-of-the-connector\"}}" >/dev/null
for s in st-rated:st-line st-open:st-line st-thumbs-rated:st-thumbs st-answered:st-line \
    st-thumbs-answered:st-thumbs; do
    api POST /v1/sessions "{\"id\": \"${s%:*}\", \"line_id\": \"${s#*:}\", \"channel\": \"webhook\",
        \"client\": {\"id\": \"client-${s%:*}\"}, \"operator_id\": \"st-op\"}" >/dev/null
done
api POST /v1/sessions '{"id": "st-webchat", "line_id": "st-chat", "channel": "webchat",
    "client": {"id": "visitor"}, "operator_id": "st-op"}' >/dev/null
rated() { # SESSION VALUE: closes the session, answers its request when sent; "REQUEST RATING"
    local request rating
    request="$(api POST "/v1/sessions/$1/close" '{"closed_by": "operator"}' | field "['rating_request']['id']")"
    for _ in $(seq 100); do
        [[ "$(api GET "/v1/sessions/$1" | field "['rating_request']['status']")" == sent ]] && break
        sleep 0.1
    done
    rating="$(api POST /v1/ratings "{\"request_id\": \"$request\", \"value\": $2, \"comment\": \"slow\"}" | field "['id']")"
    echo "$request $rating"
}
answered="$(rated st-rated 1)"
rating="${answered#* }"
answered="$(rated st-thumbs-rated 0)"
thumbs_rating="${answered#* }"
answered="$(rated st-answered 1)"
request="${answered% *}"
answered="$(rated st-thumbs-answered 0)"
thumbs_request="${answered% *}"
appeal="$(key="$operator_key" api POST "/v1/ratings/$rating/appeal" '{"reason": "the network was down"}' | field "['id']")"
chatwoot="{\"url\": \"$connector\", \"api_token\": \"st-token-of-chatwoot\", \"webhook_secret\": \"st-secret-of-chatwoot\"}"
zammad="{\"url\": \"$connector\", \"api_token\": \"st-token-of-zammad\", \"webhook_token\": \"st-token-of-the-webhook\"}"
api PUT /v1/connectors/chatwoot/1 "$chatwoot" >/dev/null
api PUT /v1/connectors/zammad/st-zammad "$zammad" >/dev/null
rocketchat="{\"url\": \"$connector\", \"user_id\": \"st-ratings\", \"api_token\": \"st-token-of-rocketchat\", \"webhook_token\": \"st-secret-of-rocketchat\"}"
api PUT /v1/connectors/rocketchat/st-rocketchat "$rocketchat" >/dev/null
subscription="{\"url\": \"$connector\", \"secret\": \"st-secret-of-the-subscription\", \"events\": [\"rating.created\"]}"
api PUT /v1/subscriptions/st-crm "$subscription" >/dev/null

# What the hooks read (tests/schemathesis/hooks.py): where the server is, and the world.
export RATELINE_ST_BASE="$base" RATELINE_ST_KEY="$key"
export RATELINE_ST_WORLD="{
  \"rated\": {\"$rating\": \"st-rated\", \"$thumbs_rating\": \"st-thumbs-rated\"},
  \"requests\": {\"binary\": \"$thumbs_request\", \"five_star\": \"$request\"},
  \"lines\": [\"st-line\", \"st-chat\", \"st-thumbs\"], \"webhook_lines\": [\"st-line\", \"st-thumbs\"],
  \"ratings\": [\"$rating\", \"$thumbs_rating\"], \"people\": [\"st-sup\"],
  \"period\": [\"2026-11-01\", \"2026-12-01\"], \"channels\": [\"webhook\", \"webchat\"],
  \"paths\": {\"/v1/ratings/{id}\": [\"id\", \"$rating\"], \"/v1/connectors/chatwoot/{account}\": [\"account\", \"1\"],
    \"/v1/connectors/zammad/{instance}\": [\"instance\", \"st-zammad\"],
    \"/v1/connectors/rocketchat/{server}\": [\"server\", \"st-rocketchat\"],
    \"/v1/subscriptions/{subscription_id}\": [\"subscription_id\", \"st-crm\"]},
  \"kept\": {\"/v1/connectors/chatwoot/1\": $chatwoot, \"/v1/connectors/zammad/st-zammad\": $zammad,
    \"/v1/connectors/rocketchat/st-rocketchat\": $rocketchat,
    \"/v1/subscriptions/st-crm\": $subscription}}"

# Known ids and values are used four times in five where an operation takes one; the fifth
# is generated.
cat >"$work/schemathesis.toml" <<TOML
hooks = "tests/schemathesis/hooks.py"

# An operation that refuses every valid case fails the run: its description leaves out a
# rule the server enforces (docs/testing.md, "Hostile input").
[warnings]
fail-on = ["validation_mismatch"]

[dictionaries]
lines = { values = ["st-line", "st-chat", "st-thumbs"] }
people = { values = ["st-op", "st-sup"] }
sessions = { values = ["st-rated", "st-open", "st-webchat"] }
ratings = { values = ["$rating", "$thumbs_rating"] }
requests = { values = ["$request", "$thumbs_request"] }
appeals = { values = ["$appeal"] }
chatwoot = { values = ["1"] }
zammad = { values = ["st-zammad"] }
rocketchat = { values = ["st-rocketchat"] }
supervisors = { values = ["st-sup"] }
destinations = { values = ["$connector"] }
subscriptions = { values = ["st-crm"] }

[parameters]
"path.line_id" = { dictionary = "lines", probability = 0.8 }
"path.person_id" = { dictionary = "people", probability = 0.8 }
"query.line" = { dictionary = "lines", probability = 0.8 }
"query.operator" = { dictionary = "people", probability = 0.8 }
"query.rating" = { dictionary = "ratings", probability = 0.8 }
"body.line_id" = { dictionary = "lines", probability = 0.8 }
"body.operator_id" = { dictionary = "people", probability = 0.8 }
"body.request_id" = { dictionary = "requests", probability = 0.8 }
"body.author_id" = { dictionary = "people", probability = 0.8 }
# Who decided must exist, and is refused 422 otherwise, not 404: always a known person.
"body.decided_by" = { dictionary = "people", probability = 1.0 }
"body.manager_id" = { dictionary = "people", probability = 0.8 }
"path.account" = { dictionary = "chatwoot", probability = 0.8 }
"path.instance" = { dictionary = "zammad", probability = 0.8 }
"path.server" = { dictionary = "rocketchat", probability = 0.8 }
"body.rating_ids[*]" = { dictionary = "ratings", probability = 0.8 }
"body.lines[*]" = { dictionary = "lines", probability = 0.8 }
"body.url" = { dictionary = "destinations", probability = 0.8 }
# An assignee must be a supervisor of the ratings' line, or an admin.
"body.assignee_id" = { dictionary = "supervisors", probability = 0.8 }
"path.subscription_id" = { dictionary = "subscriptions", probability = 0.8 }

[[operations]]
include-path-regex = "^/v1/sessions/"
parameters = { "path.id" = { dictionary = "sessions", probability = 0.8 } }

[[operations]]
include-path-regex = "^/v1/ratings/"
parameters = { "path.id" = { dictionary = "ratings", probability = 0.8 } }

[[operations]]
include-path-regex = "^/v1/appeals/"
parameters = { "path.id" = { dictionary = "appeals", probability = 0.8 } }

[[operations]]
include-path-regex = "^/v1/operators/"
parameters = { "path.id" = { dictionary = "people", probability = 0.8 } }

# Setting up a helpdesk calls it, and its refusal is the documented 502 (helpdesk_refused):
# the run's helpdesks are the local connector, which is no helpdesk. Any other 5xx still
# fails.
[[operations]]
include-path-regex = "^/v1/connectors/.*/setup$"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]
TOML

status=0
st --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$examples" \
    --generation-database none \
    ${RATELINE_ST_SEED:+--seed "$RATELINE_ST_SEED"} \
    --no-color \
    --report junit --report-junit-path "$out/junit.xml" || status=$?

# A panic in a handler is answered as a 500 (caught above); a panic in the background
# (scheduler, alerts) is only in the log.
if grep -n "panicked" "$out/server.log"; then
    echo "the server panicked during the run; see $out/server.log" >&2
    status=1
fi
exit "$status"
