#!/usr/bin/env bash
# Fetch libchdb.so (the ClickHouse engine as a shared library) into a cache directory, once.
#   scripts/libchdb.sh VERSION CACHE_DIR
# Uses an installed library when AMOSKYS_LIBCHDB points at one; else `npm pack`s
# @chdb/lib-linux-<arch>-gnu@VERSION from the npm registry into CACHE_DIR and extracts
# package/libchdb.so to CACHE_DIR/libchdb.so. Idempotent: a valid library in place is kept.
# Prints the library's path on stdout.
set -euo pipefail

die() { echo "libchdb: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 VERSION CACHE_DIR (e.g. $0 26.5.3 ~/.cache/amoskys/libchdb/26.5.3)"
version=$1
cache=$2
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version '$version' is not MAJOR.MINOR.PATCH"

# A shared object that is an ELF file with the chDB entry points, of a plausible size.
valid() {
  local f=$1
  [ -f "$f" ] || return 1
  local size
  size=$(stat -c %s "$f")
  [ "$size" -gt 100000000 ] || { echo "libchdb: $f is only $size bytes" >&2; return 1; }
  [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = "177ELF" ] || { echo "libchdb: $f is not an ELF file" >&2; return 1; }
  if command -v nm >/dev/null 2>&1; then
    nm -D --defined-only "$f" 2>/dev/null | grep -q ' chdb_connect$' || { echo "libchdb: $f does not export chdb_connect" >&2; return 1; }
  fi
  return 0
}

target="$cache/libchdb.so"

# 1. An installed library named by AMOSKYS_LIBCHDB wins (unless it is the cache target itself).
if [ -n "${AMOSKYS_LIBCHDB:-}" ] && [ "$AMOSKYS_LIBCHDB" != "$target" ]; then
  valid "$AMOSKYS_LIBCHDB" || die "AMOSKYS_LIBCHDB=$AMOSKYS_LIBCHDB is not a usable libchdb.so: unset it to download $version"
  echo "$AMOSKYS_LIBCHDB"
  exit 0
fi

# 2. Already in the cache.
if valid "$target" 2>/dev/null; then
  echo "$target"
  exit 0
fi

# 3. Download with npm into the cache.
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) die "no prebuilt libchdb for $(uname -m)" ;;
esac
[ "$(uname -s)" = Linux ] || die "this script fetches the Linux library only; set AMOSKYS_LIBCHDB to an installed libchdb"
pkg="@chdb/lib-linux-$arch-gnu@$version"
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "libchdb: installing npm to fetch $pkg" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y npm >&2 || { apt-get update >&2 && apt-get install -y npm >&2; } || true
fi
command -v npm >/dev/null 2>&1 || die "npm is needed to fetch $pkg (apt-get install -y npm), or set AMOSKYS_LIBCHDB to an installed libchdb.so"
mkdir -p "$cache"
tgz=$(ls "$cache"/chdb-lib-linux-"$arch"-gnu-"$version".tgz 2>/dev/null | head -1 || true)
parent=$(dirname "$cache")
if [ -z "$tgz" ] && [ -f "$parent/chdb-lib-linux-$arch-gnu-$version.tgz" ]; then
  tgz="$parent/chdb-lib-linux-$arch-gnu-$version.tgz"  # a tarball fetched earlier beside the cache
fi
if [ -z "$tgz" ]; then
  echo "libchdb: fetching $pkg (about 170 MB) into $cache" >&2
  (cd "$cache" && npm pack --silent "$pkg" >&2) || die "npm pack $pkg failed"
  tgz=$(ls "$cache"/chdb-lib-linux-"$arch"-gnu-"$version".tgz 2>/dev/null | head -1 || true)
  [ -n "$tgz" ] || die "npm pack did not leave chdb-lib-linux-$arch-gnu-$version.tgz in $cache"
fi
tmp=$(mktemp -d "$cache/.extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tgz" -C "$tmp" package/libchdb.so || die "$tgz holds no package/libchdb.so"
valid "$tmp/package/libchdb.so" || die "the library in $tgz is not usable"
mv -f "$tmp/package/libchdb.so" "$target"
echo "$target"
