#!/bin/sh
# find_package(evhappy) against the installed tree: the library, the header
# and the CMake package are installed (DESTDIR) into a temporary directory,
# which is then moved elsewhere (the package must not care where it is);
# tests/cmake/, a small CMake project, finds evhappy 0.2 there, links
# evhappy::evhappy, builds and runs (it races a connect on loopback and
# prints the report).  Version requests the package must refuse (1.0, a
# newer minor) and accept (an older minor, a range) are tried too.
#
# Needs cmake (skipped, status 77, without it) and make.  Environment:
# top_builddir, top_srcdir (default '.').  The compiler and flags are the
# build's own, so that a sanitizer build links its client the same way.
#
# Copyright (c) 2026 the evhappy authors.  See COPYING (BSD-3-Clause).

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}

if ! command -v cmake >/dev/null 2>&1; then
	echo "SKIP: cmake is not installed"
	exit 77
fi
top_builddir=$(cd "$top_builddir" && pwd)
top_srcdir=$(cd "$top_srcdir" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_cmake.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

failed=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; failed=$((failed + 1)); }

# A variable of the build's Makefile.
mkvar() { sed -n "s/^$1 = //p" "$top_builddir/Makefile"; }

# Only what a CMake user needs, not the tools: nothing that libtool would
# relink while other tests run them.  MAKEFLAGS would tie this make to the
# make check that runs us.
unset MAKEFLAGS MFLAGS MAKELEVEL
if ! ${MAKE:-make} -s -C "$top_builddir" DESTDIR="$tmp/stage" \
    install-libLTLIBRARIES install-pkgincludeHEADERS \
    install-nodist_cmakeconfigDATA >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	echo "FAIL: make install DESTDIR=$tmp/stage"
	exit 1
fi
mv "$tmp/stage" "$tmp/moved"
config=$(find "$tmp/moved" -name evhappyConfig.cmake)
if [ -z "$config" ] || [ ! -f "${config%/*}/evhappyConfigVersion.cmake" ]; then
	echo "FAIL: no evhappyConfig.cmake and evhappyConfigVersion.cmake installed"
	exit 1
fi
case $config in
*/cmake/evhappy/evhappyConfig.cmake) ok "installed in \$(libdir)/cmake/evhappy/" ;;
*) bad "installed in the wrong place: ${config#"$tmp/moved"}" ;;
esac
if grep -q "$tmp" "$config"; then
	bad "evhappyConfig.cmake holds the staging directory's path"
fi
# The prefix the tree was installed to: the config file is at
# PREFIX/<libdir below it>/cmake/evhappy.
prefix=$(mkvar prefix)
moved_prefix=$tmp/moved$prefix
export CC="$(mkvar CC)" CFLAGS="$(mkvar CFLAGS)" LDFLAGS="$(mkvar LDFLAGS)"

# cmake_project DIR [ARGS...]: configure and build DIR into $tmp/b.<name>.
cmake_build() {
	name=$1 src=$2
	shift 2
	rm -rf "$tmp/b.$name"
	cmake -S "$src" -B "$tmp/b.$name" -DCMAKE_PREFIX_PATH="$moved_prefix" \
	    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "$@" >"$tmp/$name.log" 2>&1 &&
	    cmake --build "$tmp/b.$name" >>"$tmp/$name.log" 2>&1
}

if cmake_build client "$top_srcdir/tests/cmake"; then
	ok "find_package(evhappy 0.2 REQUIRED) and evhappy::evhappy build"
else
	cat "$tmp/client.log"
	bad "the CMake project builds"
fi
if grep -q "evhappy [0-9.]* from $moved_prefix/" "$tmp/client.log"; then
	ok "found in the moved tree: $(sed -n 's/^-- evhappy \([0-9.]*\) from .*/\1/p' "$tmp/client.log")"
else
	grep "evhappy" "$tmp/client.log"
	bad "found in the moved tree ($moved_prefix)"
fi
# The client finds libevhappy.so through the run path CMake gave it.
if "$tmp/b.client/client" >"$tmp/run.out" 2>&1; then
	ok "the client runs: $(head -1 "$tmp/run.out")"
else
	cat "$tmp/run.out"
	bad "the client runs and connects"
fi
if command -v ldd >/dev/null 2>&1; then
	if ldd "$tmp/b.client/client" | grep -q "libevhappy.*$tmp/moved"; then
		ok "it runs with the moved tree's libevhappy"
	else
		ldd "$tmp/b.client/client"
		bad "it runs with the moved tree's libevhappy"
	fi
fi

# Version requests: VERSION EXPECTED(0 found, 1 not).
mkdir -p "$tmp/v"
printf '%s\n' '#include <he_event.h>' \
    'int main(void) { return evhappy_get_version() == 0; }' >"$tmp/v/v.c"
version=$(mkvar PACKAGE_VERSION)
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
while read -r want expect; do
	cat >"$tmp/v/CMakeLists.txt" <<EOF2
cmake_minimum_required(VERSION 3.19)
project(v C)
find_package(evhappy $want REQUIRED)
add_executable(v v.c)
target_link_libraries(v PRIVATE evhappy::evhappy)
EOF2
	if cmake_build "v" "$tmp/v"; then got=0; else got=1; fi
	if [ "$got" = "$expect" ]; then
		ok "find_package(evhappy $want): $([ "$expect" = 0 ] && echo found || echo refused)"
	else
		cat "$tmp/v.log"
		bad "find_package(evhappy $want) should be $([ "$expect" = 0 ] && echo found || echo refused)"
	fi
done <<EOF2
$version 0
$major.$minor 0
$major 0
$major.$minor...$((major + 1)) 0
$((major + 1)) 1
$major.$((minor + 1)) 1
$((major + 1))...$((major + 2)) 1
EOF2

echo "$failed failed"
[ "$failed" -eq 0 ]
