#!/usr/bin/env bash
# fetch-lwip.sh DESTDIR: puts the lwIP 2.1.3 source tree (Debian bookworm's source package `lwip`,
# 2.1.3+dfsg1-2) into DESTDIR, without touching the system's apt configuration.
#
# Why Debian: it is the one package registry this project reaches, and apt verifies what it
# downloads: the InRelease index is checked against Debian's archive keyring, the Sources index
# against InRelease, and every file of the source package against the Sources index. On top of
# that this script pins the SHA-256 of the one file we use (the upstream "orig" tarball), so a
# different tarball is refused even if the archive changed.
#
# We unpack only the orig tarball. Debian's patches (debian/patches of 2.1.3+dfsg1-2, read
# 2026-11-28) are: patch9350 and max_sockets (the sockets API, which we do not build; max_sockets
# also touches a sockets-only check in core/init.c), patch9807 (the tcpip thread API, not built
# with NO_SYS=1), CVE-2020-8597 (PPP's EAP code, not built), port and cmake (Debian's Unix port
# and shared-library build). None changes the core TCP/IPv4/UDP/ICMP code we compile, so none
# matters to us. The "+dfsg1" repack removed non-free files, not code we use.
#
# Idempotent: when DESTDIR/src/core/tcp.c exists together with our stamp file, nothing is done.
# Needs: apt-get, tar, xz-utils (scripts/bootstrap.sh) and debian-archive-keyring (on every Debian system).
set -euo pipefail

VERSION=2.1.3+dfsg1-2
ORIG=lwip_2.1.3+dfsg1.orig.tar.xz
ORIG_SHA256=0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

if [ $# -ne 1 ]; then
	echo "usage: scripts/fetch-lwip.sh DESTDIR" >&2
	exit 2
fi
dest=$1
stamp="$dest/.kubetun-lwip-stamp"
if [ -f "$dest/src/core/tcp.c" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ORIG_SHA256" ]; then
	exit 0
fi
for tool in apt-get tar xz sha256sum; do
	command -v "$tool" >/dev/null || { echo "fetch-lwip: $tool not found (run scripts/bootstrap.sh)" >&2; exit 1; }
done
[ -r "$KEYRING" ] || { echo "fetch-lwip: $KEYRING missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kt-lwip.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/parts" "$work/src" "$work/cache/archives/partial"
echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian bookworm main" >"$work/sources.list"
# Every path apt would write to is private; the system's sources, lists and cache stay untouched.
apt_opts=(
	-o "Dir::Etc::SourceList=$work/sources.list"
	-o "Dir::Etc::SourceParts=$work/parts"
	-o "Dir::State::Lists=$work/lists"
	-o "Dir::Cache=$work/cache"
	-o "Dir::Cache::pkgcache="
	-o "Dir::Cache::srcpkgcache="
	-o "APT::Get::List-Cleanup=0"
)
if ! apt-get "${apt_opts[@]}" -qq update >"$work/update.log" 2>&1; then
	echo "fetch-lwip: apt-get update of the private deb-src list failed:" >&2
	cat "$work/update.log" >&2
	exit 1
fi
if ! (cd "$work/src" && apt-get "${apt_opts[@]}" -qq source --download-only "lwip=$VERSION") \
	>"$work/source.log" 2>&1; then
	echo "fetch-lwip: apt-get source lwip=$VERSION failed:" >&2
	cat "$work/source.log" >&2
	exit 1
fi
got=$(sha256sum "$work/src/$ORIG" | cut -d' ' -f1)
if [ "$got" != "$ORIG_SHA256" ]; then
	echo "fetch-lwip: $ORIG has SHA-256 $got, expected $ORIG_SHA256; refusing it" >&2
	exit 1
fi
mkdir -p "$work/unpack"
tar -xJf "$work/src/$ORIG" -C "$work/unpack"
top=$(find "$work/unpack" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -f "$top/src/core/tcp.c" ] || { echo "fetch-lwip: unexpected tarball layout" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$top" "$dest"
echo "$ORIG_SHA256" >"$stamp"
echo "fetch-lwip: lwIP $VERSION in $dest"
