#!/bin/sh
# The installed shared library exports the public API and nothing else.
#
#  - every dynamic symbol libevhappy.so defines starts with evhappy_;
#  - every function he_event.h declares (its EVHAPPY_EXPORT_ lines) is
#    exported;
#  - libevhappy.pc was made and its Requires names libevent_core.
#
# make check exports top_builddir and top_srcdir; both default to ".".
# Exit 77 (skipped) when there is no shared library (--disable-shared) or
# no nm.  The last line says "N passed, N failed".

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
NM=${NM:-nm}

so=$top_builddir/.libs/libevhappy.so
header=$top_srcdir/he_event.h
pc=$top_builddir/libevhappy.pc

if [ ! -f "$so" ]; then
	echo "SKIP: $so was not built (configured with --disable-shared?)"
	exit 77
fi
if ! command -v "${NM%% *}" >/dev/null 2>&1; then
	echo "SKIP: ${NM%% *} not found"
	exit 77
fi

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

tmp=${TMPDIR:-/tmp}/check_symbols.$$
trap 'rm -f "$tmp".*' 0
trap 'exit 1' 1 2 15

# The defined dynamic symbols, one name a line (a version suffix such as
# @@LIBEVHAPPY_0 removed).
if ! $NM -D --defined-only "$so" >"$tmp.nm" 2>"$tmp.err"; then
	cat "$tmp.err"
	fail "$NM -D --defined-only $so"
	echo "$passed passed, $failed failed"
	exit 1
fi
awk 'NF >= 2 { n = $NF; sub(/@.*/, "", n); print n }' "$tmp.nm" | sort -u >"$tmp.syms"

# 1. Nothing but evhappy_*.  The names ignored here are not ours: the C
# runtime (crti.o: _init, _fini) and the linker script (_edata, _end,
# __bss_start) define them in every shared object.  Debian 12's ld 2.40
# keeps them out of the dynamic table under libtool's version script, so
# `nm -D` shows only evhappy_* there; older binutils, gold and lld list
# them.  No C identifier of ours can take these reserved names.
grep -v -e '^evhappy_' \
	-e '^_init$' -e '^_fini$' -e '^_edata$' -e '^_end$' -e '^__bss_start$' \
	"$tmp.syms" >"$tmp.extra"
if [ -s "$tmp.extra" ]; then
	fail "symbols exported without the evhappy_ prefix:"
	sed 's/^/	/' "$tmp.extra"
else
	pass "every exported symbol starts with evhappy_ ($(wc -l <"$tmp.syms" | tr -d ' ') symbols)"
fi

# 2. Every function of the public header is exported.  A declaration is
# the EVHAPPY_EXPORT_ line (not the #define) and, when the name is on a
# later line, the lines up to its "(": the name is the identifier before it.
if [ ! -f "$header" ]; then
	fail "$header not found"
else
	awk '
		/^[ \t]*#/ { next }
		/EVHAPPY_EXPORT_/ { decl = ""; want = 1 }
		want { decl = decl " " $0
			if (index(decl, "(")) {
				sub(/\(.*/, "", decl)
				sub(/[ \t*]+$/, "", decl)
				n = split(decl, w, /[^A-Za-z0-9_]+/)
				print w[n]
				want = 0
			}
		}' "$header" | sort -u >"$tmp.api"
	if [ ! -s "$tmp.api" ]; then
		fail "no EVHAPPY_EXPORT_ declarations found in $header"
	fi
	while read -r fn; do
		if grep -qx "$fn" "$tmp.syms"; then
			pass "$fn is exported"
		else
			fail "$fn is declared in he_event.h but not exported"
		fi
	done <"$tmp.api"
fi

# 3. The pkg-config file.
if [ -f "$pc" ]; then
	pass "$pc exists"
	if grep -E '^Requires:(.*[ ,])?libevent_core([ ,<>=]|$)' "$pc" >/dev/null; then
		pass "libevhappy.pc Requires libevent_core"
	else
		fail "libevhappy.pc: Requires does not name libevent_core"
		grep '^Requires' "$pc" | sed 's/^/	/'
	fi
else
	fail "$pc was not made"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
