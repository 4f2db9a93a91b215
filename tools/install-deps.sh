#!/usr/bin/env bash
# install-deps.sh: installs the Debian packages a task needs (build, test, fuzz, bench, demo),
# non-interactively and only those missing; a no-op when everything is present.
set -euo pipefail

declare -A want=(
	[build]="build-essential pkg-config git librdkafka-dev libcurl4-openssl-dev libjansson-dev libxml2-dev libpq-dev libmicrohttpd-dev libsodium-dev"
	[test]="libcmocka-dev postgresql python3 python3-jsonschema python3-yaml clang-format curl mandoc"
	[fuzz]="clang libclang-rt-14-dev"
	[bench]="postgresql-contrib wrk"
	[demo]="postgresql python3 curl"
)

missing=()
for task in "${@:-build}"; do
	for p in ${want[$task]:?unknown task $task}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages and not root; run: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
