#!/usr/bin/env bash
# Smoke test for tests/harness/synapse.sh: drives the running homeserver with curl through the
# flow the product needs (alias room, invite, join, message, pin, history), then a burst of
# room creations/messages/invites that must not hit 429. Run after `synapse.sh start`.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/../.." && pwd))"
# shellcheck disable=SC1090,SC1091
source "${1:-$repo_root/.cache/synapse-run/env}"

H="$MATRIX_HOMESERVER"
BURST="${BURST:-30}"
fail() { echo "synapse-smoke: FAIL: $*" >&2; exit 1; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# call TOKEN METHOD PATH [BODY] -> prints body; fails on non-2xx (shows the error body).
call() {
    local token="$1" method="$2" path="$3" body="${4:-}" out code
    out="$(mktemp)"
    code="$(curl -s -o "$out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' ${body:+--data "$body"} "$H$path")"
    if [[ "$code" != 2* ]]; then
        fail "$method $path -> $code $(cat "$out")"
    fi
    cat "$out"; rm -f "$out"
}

alias_local="smoke-$RANDOM$RANDOM"
room="$(call "$MATRIX_BOT_TOKEN" POST /_matrix/client/v3/createRoom \
    "{\"name\":\"smoke\",\"topic\":\"t\",\"room_alias_name\":\"$alias_local\",\"preset\":\"private_chat\"}" | json '["room_id"]')"
resolved="$(call "$MATRIX_BOT_TOKEN" GET "/_matrix/client/v3/directory/room/%23$alias_local:$MATRIX_SERVER_NAME" | json '["room_id"]')"
[[ "$resolved" == "$room" ]] || fail "alias resolves to $resolved, want $room"

call "$MATRIX_BOT_TOKEN" POST "/_matrix/client/v3/rooms/$room/invite" "{\"user_id\":\"$MATRIX_ALICE_USER\"}" >/dev/null
call "$MATRIX_ALICE_TOKEN" POST "/_matrix/client/v3/join/%23$alias_local:$MATRIX_SERVER_NAME" '{}' >/dev/null

event="$(call "$MATRIX_BOT_TOKEN" PUT "/_matrix/client/v3/rooms/$room/send/m.room.message/t1" \
    '{"msgtype":"m.text","body":"alert"}' | json '["event_id"]')"
call "$MATRIX_BOT_TOKEN" PUT "/_matrix/client/v3/rooms/$room/state/m.room.pinned_events" "{\"pinned\":[\"$event\"]}" >/dev/null
pinned="$(call "$MATRIX_ALICE_TOKEN" GET "/_matrix/client/v3/rooms/$room/state/m.room.pinned_events" | json '["pinned"][0]')"
[[ "$pinned" == "$event" ]] || fail "pinned $pinned, want $event"
call "$MATRIX_ALICE_TOKEN" GET "/_matrix/client/v3/rooms/$room/messages?dir=b&limit=10" | grep -q '"alert"' \
    || fail "alice cannot read the message back"

# Burst: would be throttled (429 M_LIMIT_EXCEEDED) with Synapse's default rc_* settings.
start=$(date +%s.%N)
for i in $(seq 1 "$BURST"); do
    r="$(call "$MATRIX_BOT_TOKEN" POST /_matrix/client/v3/createRoom "{\"room_alias_name\":\"$alias_local-$i\"}" | json '["room_id"]')"
    call "$MATRIX_BOT_TOKEN" POST "/_matrix/client/v3/rooms/$r/invite" "{\"user_id\":\"$MATRIX_BOB_USER\"}" >/dev/null
    call "$MATRIX_BOB_TOKEN" POST "/_matrix/client/v3/rooms/$r/join" '{}' >/dev/null
    for j in 1 2 3; do
        call "$MATRIX_BOT_TOKEN" PUT "/_matrix/client/v3/rooms/$r/send/m.room.message/m$j" \
            "{\"msgtype\":\"m.text\",\"body\":\"msg $j\"}" >/dev/null
    done
done
end=$(date +%s.%N)
echo "synapse-smoke: OK (room $room; burst of $BURST rooms x (invite+join+3 msgs) in $(python3 -c "print(round($end-$start,1))") s)"
