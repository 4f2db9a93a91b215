#!/bin/sh
# mankeys.sh BIN PAGE...: regenerates the configuration key list of each manual page. A page
# marks its list with the lines
#   .\" BEGIN KEYS COMMAND ARGS
#   .\" END KEYS
# and everything between them is replaced by what BIN/COMMAND ARGS prints (an mdoc list made
# from the program's key tables by --help-config=mdoc). tests/integration/test_man.c checks
# that the committed pages hold exactly that.
set -eu
bin=$1
shift
for page in "$@"; do
	cmd=$(sed -n 's/^\.\\" BEGIN KEYS //p' "$page")
	[ -n "$cmd" ] || continue
	# shellcheck disable=SC2086 # the marker holds the program and its arguments
	"$bin"/$cmd >"$page.keys"
	awk -v keys="$page.keys" '
		/^\.\\" BEGIN KEYS / { print; while ((getline line < keys) > 0) print line; skip = 1; next }
		/^\.\\" END KEYS/ { skip = 0 }
		!skip { print }
	' "$page" >"$page.new"
	rm -f "$page.keys"
	mv "$page.new" "$page"
done
