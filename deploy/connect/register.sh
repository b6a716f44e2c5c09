#!/usr/bin/env bash
# Create or update every connector whose config is in a folder (default: the
# generated connectors/connect/), through the Kafka Connect REST API.
#
#   deploy/connect/register.sh [CONFIG_DIR]      CONNECT_URL=http://localhost:8083
set -euo pipefail

dir="${1:-$(dirname "$0")/../../connectors/connect}"
url="${CONNECT_URL:-http://localhost:8083}"

for _ in $(seq 60); do
    curl -fsS "$url/connectors" >/dev/null 2>&1 && break
    sleep 2
done
curl -fsS "$url/connectors" >/dev/null

status=0
for file in "$dir"/*.json; do
    name="$(basename "$file" .json)"
    if curl -fsS -X PUT -H 'Content-Type: application/json' --data @"$file" \
        "$url/connectors/$name/config" >/dev/null; then
        echo "registered $name"
    else
        echo "could not register $name" >&2
        status=1
    fi
done
exit "$status"
