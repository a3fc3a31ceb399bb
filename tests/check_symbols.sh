#!/bin/sh
# The installed shared library exports the public API and nothing else.
#
#  - every dynamic symbol libevhappy.so defines starts with evhappy_;
#  - the exported names are exactly those listed in libevhappy.symbols
#    (the committed ABI list: nothing more, nothing less);
#  - every function he_event.h declares (its EVHAPPY_EXPORT_ lines) is
#    exported, and has its man page man/NAME.3;
#  - libevhappy.pc was made, its Requires names libevent_core, its Version
#    is he_event.h's EVHAPPY_VERSION_STRING and its Cflags point into
#    ${includedir}/evhappy, where the header is installed;
#  - every man page's .TH line names the version of he_event.h.
#
# make check exports top_builddir and top_srcdir; both default to ".".
# Exit 77 (skipped) when there is no shared library (--disable-shared) or
# no nm.  The last line says "N passed, N failed".
#
# With --update (`make update-symbols`) it checks nothing: it rewrites
# libevhappy.symbols from the built library (keeping its comment lines)
# and, when the source tree has it, packaging/debian/libevhappy0.symbols
# (a new name gets the header's version as the one it first appeared in).

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
NM=${NM:-nm}

so=$top_builddir/.libs/libevhappy.so
header=$top_srcdir/he_event.h
pc=$top_builddir/libevhappy.pc
list=$top_srcdir/libevhappy.symbols
debsyms=$top_srcdir/packaging/debian/libevhappy0.symbols
update=no
[ "${1:-}" = --update ] && update=yes

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
awk 'NF >= 2 { n = $NF; sub(/@.*/, "", n); print n }' "$tmp.nm" |
	LC_ALL=C sort -u >"$tmp.syms"

# The ABI list without its comments; our exports without the runtime's.
listed() { grep -v -e '^#' -e '^[ 	]*$' "$1" | LC_ALL=C sort -u; }
grep '^evhappy_' "$tmp.syms" >"$tmp.ours"

if [ "$update" = yes ]; then
	version=$(sed -n 's/^#define EVHAPPY_VERSION_STRING "\(.*\)".*/\1/p' "$header")
	{ [ -f "$list" ] && grep '^#' "$list"; cat "$tmp.ours"; } >"$tmp.list"
	if [ -f "$list" ] && cmp -s "$tmp.list" "$list"; then
		echo "$list: unchanged"
	else
		[ -f "$list" ] && diff "$list" "$tmp.list" | grep '^[<>] [^#]'
		cp "$tmp.list" "$list" && echo "$list: rewritten"
	fi
	if [ -f "$debsyms" ]; then
		# Keep the header lines and each kept name's version; new names
		# first appear in this version; names gone are dropped (an ABI
		# break: see libevhappy.symbols).
		awk -v version="$version" '
			FNR == NR { want[$1] = 1; next }
			/^[^ ]/ { print; next }
			{ n = $1; sub(/@.*/, "", n)
			  if (n in want) { print; have[n] = 1 } }
			END { for (n in want) if (!(n in have))
				printf " %s@Base %s\n", n, version }
		' "$tmp.ours" "$debsyms" >"$tmp.deb.raw"
		{ grep -v '^ ' "$tmp.deb.raw"; grep '^ ' "$tmp.deb.raw" | LC_ALL=C sort; } >"$tmp.deb"
		if cmp -s "$tmp.deb" "$debsyms"; then
			echo "$debsyms: unchanged"
		else
			cp "$tmp.deb" "$debsyms" && echo "$debsyms: rewritten"
		fi
	fi
	exit 0
fi

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

# 2. Exactly the names of the committed ABI list.
if [ ! -f "$list" ]; then
	fail "$list not found"
else
	listed "$list" >"$tmp.listed"
	LC_ALL=C comm -13 "$tmp.listed" "$tmp.ours" >"$tmp.unlisted"
	LC_ALL=C comm -23 "$tmp.listed" "$tmp.ours" >"$tmp.missing"
	if [ -s "$tmp.unlisted" ]; then
		fail "exported but not in libevhappy.symbols (a new interface? see the rules there; make update-symbols):"
		sed 's/^/	/' "$tmp.unlisted"
	else
		pass "nothing exported beyond libevhappy.symbols"
	fi
	if [ -s "$tmp.missing" ]; then
		fail "in libevhappy.symbols but not exported (an ABI break):"
		sed 's/^/	/' "$tmp.missing"
	else
		pass "every name of libevhappy.symbols is exported ($(wc -l <"$tmp.listed" | tr -d ' ') names)"
	fi
	if grep -v -e '^#' "$list" | LC_ALL=C sort -c 2>/dev/null; then
		pass "libevhappy.symbols is sorted"
	else
		fail "libevhappy.symbols is not sorted (LC_ALL=C sort)"
	fi
fi

# 3. Every function of the public header is exported.  A declaration is
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
		if [ -f "$top_srcdir/man/$fn.3" ]; then
			pass "$fn has its man page"
		else
			fail "$fn has no man page man/$fn.3"
		fi
	done <"$tmp.api"
fi

# pc_has FIELD REGEX OK WHY: pass OK when the pkg-config file's FIELD
# line matches REGEX (after "FIELD:"), else fail WHY and show that line.
pc_has() {
	if grep -E "^$1:$2" "$pc" >/dev/null; then
		pass "$3"
	else
		fail "$4"
		grep "^$1" "$pc" | sed 's/^/	/'
	fi
}

# 4. The pkg-config file.
if [ -f "$pc" ]; then
	pass "$pc exists"
	pc_has Requires '(.*[ ,])?libevent_core([ ,<>=]|$)' \
	    "libevhappy.pc Requires libevent_core" \
	    "libevhappy.pc: Requires does not name libevent_core"
	hv=$(sed -n 's/^#define EVHAPPY_VERSION_STRING "\(.*\)".*/\1/p' "$header")
	pv=$(sed -n 's/^Version: *//p' "$pc")
	if [ -n "$hv" ] && [ "$hv" = "$pv" ]; then
		pass "libevhappy.pc Version $pv is he_event.h's EVHAPPY_VERSION_STRING"
	else
		fail "libevhappy.pc Version '$pv' (configure.ac's AC_INIT) is not he_event.h's EVHAPPY_VERSION_STRING '$hv'"
	fi
	# #include <he_event.h> works for whoever builds with pkg-config.
	pc_has Cflags '.*-I\$\{includedir\}/evhappy( |$)' \
	    "libevhappy.pc Cflags has -I\${includedir}/evhappy" \
	    "libevhappy.pc Cflags lacks -I\${includedir}/evhappy"
else
	fail "$pc was not made"
fi

# 5. The man pages name this release in their .TH line.
hv=$(sed -n 's/^#define EVHAPPY_VERSION_STRING "\(.*\)".*/\1/p' "$header")
stale=$(grep -L "^\.TH .*\"evhappy $hv\"" "$top_srcdir"/man/*.[1-8] 2>/dev/null)
if [ -z "$stale" ]; then
	pass "every man page's .TH line names evhappy $hv"
else
	fail "man pages whose .TH line does not name evhappy $hv:"
	printf '%s\n' "$stale" | sed 's/^/	/'
	echo "	(sed -i '1s/\"evhappy [0-9.]*\"/\"evhappy $hv\"/' man/*.[1-8])"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
