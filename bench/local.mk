# SPDX-License-Identifier: MIT
# bench/: rules of this part of the tree (included by Makefile.am).
# The wrk script of visitor and operator posts (bench_rest.py, compare.py).
EXTRA_DIST += bench/rest/posts.lua
