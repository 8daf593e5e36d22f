# SPDX-License-Identifier: MIT
# bench/: rules of this part of the tree (included by Makefile.am).
