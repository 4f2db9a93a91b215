# need.sh: sourced by the scripts. `need NAME` prints the path of program NAME where its Debian
# package puts it (the newest PostgreSQL's bin directory, then /usr/bin, /usr/sbin, /bin, /sbin;
# never what else PATH holds, such as a pyenv shim without the packaged modules), or fails
# naming the tools/install-deps.sh task and package that must install it. Every program outside
# the base system that a script runs is found here (tests/unit/test_deps_lint checks).
# shellcheck shell=bash

need() { # need NAME
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) \
		/usr/bin /usr/sbin /bin /sbin; do
		if [ -x "$d/$1" ]; then
			echo "$d/$1"
			return 0
		fi
	done
	echo "$1 is missing: $("$(dirname "${BASH_SOURCE[0]}")/install-deps.sh" --who "$1")" >&2
	return 1
}
