#!/usr/bin/env bash
# install-deps.sh: installs the Debian packages a task needs (build, test, fuzz, bench, demo),
# non-interactively and only those missing; a no-op when everything is present.
#   tools/install-deps.sh TASK...     install what the tasks need (`make check`: build test)
#   tools/install-deps.sh --who NAME  say which task and package provide program NAME
set -euo pipefail

# Packages each task installs besides those of its programs below (libraries, headers, servers).
declare -A want=(
	[build]="build-essential pkg-config git librdkafka-dev libcurl4-openssl-dev libjansson-dev libxml2-dev libpq-dev libmicrohttpd-dev libgnutls28-dev libsodium-dev libsystemd-dev"
	[test]="libcmocka-dev libyaml-dev postgresql"
	[fuzz]="clang libclang-rt-14-dev"
	[bench]="postgresql postgresql-contrib"
	[demo]="postgresql"
)

# The programs each task's packages give the tests, the scripts and the programs they start, as
# program=package (python3:MODULE=package for a Python module); a task installs these packages
# too. Scripts find a program with `need NAME` (tools/need.sh), tests with tprog("NAME")
# (tests/support/tprog.h), both where these packages put it. tests/unit/test_deps_lint fails
# when a test or script looks up what the tasks that run it do not provide, or runs a program
# bypassing the lookup; tests/integration/test_deps_installed when a provided program is absent.
declare -A provides=(
	[build]="make=make cc=build-essential pkg-config=pkg-config git=git"
	[test]="python3=python3 python3:yaml=python3-yaml python3:jsonschema=python3-jsonschema
		clang-format=clang-format curl=curl wrk=wrk mandoc=mandoc runuser=util-linux openssl=openssl
		initdb=postgresql pg_ctl=postgresql createdb=postgresql pgbench=postgresql
		systemd-analyze=systemd ip=iproute2 iptables=iptables"
	[fuzz]="clang=clang"
	[bench]="python3=python3 curl=curl wrk=wrk runuser=util-linux initdb=postgresql
		pg_ctl=postgresql createdb=postgresql pgbench=postgresql"
	[demo]="python3=python3 curl=curl runuser=util-linux initdb=postgresql pg_ctl=postgresql
		createdb=postgresql"
)

# Programs of the base system (packages of Priority required, on every Debian machine): scripts
# run these by name, without need.
system="bash=bash cat=coreutils chmod=coreutils chown=coreutils cut=coreutils date=coreutils
	basename=coreutils cp=coreutils dirname=coreutils head=coreutils id=coreutils ls=coreutils
	mkdir=coreutils mktemp=coreutils rm=coreutils seq=coreutils sha256sum=coreutils sleep=coreutils
	sort=coreutils tail=coreutils timeout=coreutils tr=coreutils wc=coreutils grep=grep sed=sed
	dpkg-query=dpkg apt-get=apt awk=mawk mv=coreutils"

if [ "${1:-}" = --who ]; then
	name=${2:?usage: install-deps.sh --who NAME}
	tasks="" package=""
	for task in $(printf '%s\n' "${!provides[@]}" | sort); do
		for pair in ${provides[$task]}; do
			if [ "${pair%%=*}" = "$name" ]; then
				tasks="${tasks:+$tasks or }$task"
				package=${pair#*=}
			fi
		done
	done
	if [ -n "$tasks" ]; then
		echo "tools/install-deps.sh $tasks must install it (package $package)"
	else
		echo "no task of tools/install-deps.sh provides it: declare it there"
	fi
	exit 0
fi

missing=()
for task in "${@:-build}"; do
	pkgs=${want[$task]:?unknown task $task}
	for pair in ${provides[$task]}; do pkgs="$pkgs ${pair#*=}"; done
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
done
[ ${#missing[@]} -eq 0 ] && exit 0
# A package two programs come from is named once.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages and not root; run: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
