#!/usr/bin/env bash
# Stand-in for ilert's bash+curl Pandora FMS script (pandorafms_ilert.sh in iLert/ilert-pandorafms):
# the same arguments, the same JSON body built by interpolation, one curl POST to ilert's
# Pandora FMS endpoint. The base URL comes from PEER_ILERT_URL so that it reaches the local fake.
# Arguments: KEY EVENT_TYPE INCIDENT_KEY TITLE DESCRIPTION CREATED_AT PRIORITY AGENT MODULE DATA
base="${PEER_ILERT_URL:-https://api.ilert.com}"
code=$(curl -o /dev/null -s -w "%{http_code}" -X POST "$base/api/v1/events/pandorafms/$1" \
  -H "Content-Type: application/json" -d '{
    "eventType": "'"$2"'",
    "title": "'"$4"'",
    "description": "'"$5"'",
    "incidentKey": "'"$3"'",
    "details": {
      "agentName": "'"$8"'",
      "createdAt": "'"$6"'",
      "priority": "'"$7"'",
      "moduleName": "'"$9"'",
      "moduleData": "'"${10}"'"
    }
  }')
if [ "$code" = "200" ] || [ "$code" = "202" ]; then
  echo "alert sent"
else
  echo "ilert answered $code" >&2
  exit 1
fi
