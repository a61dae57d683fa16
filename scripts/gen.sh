#!/usr/bin/env bash
# Regenerates gen-nodejs/ from idl/lock_service.thrift with the Apache Thrift compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v thrift >/dev/null || { echo "gen: the thrift compiler is missing (apt-get install thrift-compiler)" >&2; exit 1; }
rm -rf gen-nodejs
mkdir -p gen-nodejs
thrift --gen js:node,ts -out gen-nodejs idl/lock_service.thrift
