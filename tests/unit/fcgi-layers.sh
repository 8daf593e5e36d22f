#!/bin/sh
# SPDX-License-Identifier: MIT
# fcgi-layers: fails when two files of fcgi/ reach each other, directly or round a loop.
#
#   tests/unit/fcgi-layers.sh [LIBRARY]    (default fcgi/libchataifcgi.a, run by make check)
#
# Every object of the library names the symbols it uses from elsewhere (nm: U) and the
# ones it defines (T, D, B, R): a file "depends on" the file that defines what it uses
# (a call, a function pointer in the route table, a global such as app_cfg). The layers
# of docs/internals.md ("fcgi/ layers") hold when that graph has no cycle. Prints each
# cycle found as "a -> b -> a" and exits 1; with no cycle, prints the edges and exits 0.
set -u
lib=${1:-fcgi/libchataifcgi.a}
if [ ! -f "$lib" ]; then
	echo "fcgi-layers: $lib not found (build it first)" >&2
	exit 2
fi
nm -A "$lib" | awk '
function file(f,   n, p) {
	n = split(f, p, ":")
	f = p[2]
	sub(/^.*libchataifcgi_a-/, "", f)
	sub(/\.o$/, "", f)
	return f
}
$2 == "U" { use[file($1), $3] = 1; next }
$2 ~ /^[TDBR]$/ { def[$3] = file($1); if (!(file($1) in files)) nfiles++; files[file($1)] = 1 }
END {
	for (k in use) {
		split(k, p, SUBSEP)
		if ((p[2] in def) && def[p[2]] != p[1])
			edge[p[1], def[p[2]]] = 1
	}
	nedges = 0
	for (e in edge) {
		split(e, p, SUBSEP)
		out[p[1]] = out[p[1]] " " p[2]
		nedges++
	}
	bad = 0
	for (f in files)
		if (!(f in color))
			visit(f, 0)
	if (bad)
		exit 1
	printf "fcgi-layers: %d files, %d dependencies, no cycle\n", nfiles, nedges
}
# Depth-first search: a grey node met again closes a cycle (stack holds the path).
function visit(f, depth,   n, i, t, j, path) {
	color[f] = 1
	stack[depth] = f
	n = split(out[f], t, " ")
	for (i = 1; i <= n; i++) {
		if ((t[i] in color) && color[t[i]] == 1) {
			for (j = depth; stack[j] != t[i]; j--)
				;
			path = stack[j]
			for (j = j + 1; j <= depth; j++)
				path = path " -> " stack[j]
			print "fcgi-layers: cycle: " path " -> " t[i]
			bad = 1
		} else if (!(t[i] in color)) {
			visit(t[i], depth + 1)
		}
	}
	color[f] = 2
}'
