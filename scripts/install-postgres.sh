#!/usr/bin/env bash
# PostgreSQL with the vector extension that ElizaOS's plugin-sql needs, from Debian's
# servers only (run as root; .ci/run runs it when either is missing). Debian 12 packages
# no pgvector, so it is built from Debian 13's source package against this machine's
# PostgreSQL: a pin keeps every Debian 13 binary out, and the source list is removed after.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if [ -f "/usr/share/postgresql/$version/extension/vector.control" ]; then
  echo "install-postgres: PostgreSQL $version already has the vector extension"
  exit 0
fi
apt-get install -y -qq --no-install-recommends build-essential dpkg-dev "postgresql-server-dev-$version" >/dev/null
list=/etc/apt/sources.list.d/purl-pgvector-src.list
pin=/etc/apt/preferences.d/purl-pgvector-src-only
trap 'rm -f "$list" "$pin"' EXIT
echo 'deb-src http://deb.debian.org/debian trixie main' >"$list"
printf 'Package: *\nPin: release n=trixie\nPin-Priority: -1\n' >"$pin"
apt-get update -qq
work=$(mktemp -d)
trap 'rm -f "$list" "$pin"; rm -rf "$work"' EXIT
(
  cd "$work"
  apt-get source -qq pgvector >source.log 2>&1 || { cat source.log >&2; exit 1; }
  cd pgvector-*/
  make -s PG_CONFIG="/usr/lib/postgresql/$version/bin/pg_config" >/dev/null
  make -s PG_CONFIG="/usr/lib/postgresql/$version/bin/pg_config" install >/dev/null
)
echo "install-postgres: PostgreSQL $version with the vector extension from Debian's pgvector source package"
