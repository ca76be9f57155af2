#!/bin/sh
# Install Debian's PostgreSQL server binaries (non-interactive, idempotent) so that the
# PostgreSQL tests run: tests/conftest.py starts a throwaway cluster from them.
set -eu
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "postgres.sh: PostgreSQL already installed: $(ls -d /usr/lib/postgresql/*/bin/initdb)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends postgresql
ls /usr/lib/postgresql/*/bin/initdb
