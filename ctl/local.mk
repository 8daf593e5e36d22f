# ctl/: rules of this part of the tree (included by Makefile.am).
