#!/usr/bin/env bash
# Send a file to BAUM with kcat (https://github.com/edenhill/kcat), no Go
# involved: the file goes to Kafka as StoreChunk commands, exactly as BAUM's
# own clients send it (GNU/Linux tools). Prints the upload id; the file is then
# GET /data/{id} on the service that keeps it.
#
#   BROKER=127.0.0.1:9092 docs/send-with-kcat.sh photo.jpg
set -euo pipefail
BROKER=${BROKER:-127.0.0.1:9092}      # Kafka bootstrap broker
FILE=$1                               # the file to send
CHUNK=262144                          # bytes per chunk (at most 786432)

ID=$(cat /proc/sys/kernel/random/uuid) # the upload id: any lowercase UUID (Linux)
SIZE=$(stat -c %s "$FILE")
SUM=$(sha256sum "$FILE" | cut -d' ' -f1)
N=$(( SIZE == 0 ? 1 : (SIZE + CHUNK - 1) / CHUNK ))
PART=$(mktemp)
trap 'rm -f "$PART"' EXIT

for ((i = 0; i < N; i++)); do
  # Every chunk: its place in the file and the file's metadata.
  headers=(-H name=baum.StoreChunk.v1 -H upload_id="$ID"
           -H chunk_index=$i -H chunk_offset=$((i * CHUNK))
           -H file_name="$(basename "$FILE")" -H content_type=application/octet-stream
           -H origin=kcat)
  # The last chunk: the size and SHA-256 every service verifies.
  if ((i == N - 1)); then
    headers+=(-H last=true -H file_size="$SIZE" -H file_sha256="$SUM")
  else
    headers+=(-H last=false)
  fi
  dd if="$FILE" of="$PART" bs=$CHUNK skip=$i count=1 status=none
  # Key = upload id: one upload's chunks stay in order in one partition.
  if [[ -s $PART ]]; then
    kcat -P -b "$BROKER" -t baum.commands.store-chunk -k "$ID" "${headers[@]}" "$PART"
  else # kcat skips empty files; an empty value goes through the key delimiter
    printf '%s\t\n' "$ID" | kcat -P -b "$BROKER" -t baum.commands.store-chunk -K '\t' "${headers[@]}"
  fi
done
echo "$ID"
