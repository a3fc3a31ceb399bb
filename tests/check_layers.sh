#!/bin/sh
# The layering check (DESIGN.md): the library's files call only downwards
# and their call graph has no circle; with --self-test it also shows that
# an upward call and a circle added on purpose are caught.
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).
top_srcdir=${top_srcdir:-.}
command -v python3 >/dev/null 2>&1 || { echo "SKIP: no python3"; exit 77; }
exec python3 "$top_srcdir/tests/check_layers.py" --self-test "$top_srcdir"
