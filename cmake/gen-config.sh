#!/bin/sh
# Writes evhappyConfig.cmake or evhappyConfigVersion.cmake (the package
# that CMake's find_package(evhappy) reads) from its .in template, with
# what only the build knows: the version, the library's file name and soname
# (from libtool's .la file), and the path from the installed config
# directory to the header's, so that the installed tree may move.
#
#   gen-config.sh TEMPLATE LA VERSION LIBDIR INCLUDEDIR SIZEOF_VOID_P OUT
#
# Run by Makefile.am; needs no CMake.
set -eu
template=$1 la=$2 version=$3 libdir=$4 includedir=$5 sizeof_void_p=$6 out=$7

# /a//b/./c/ -> /a/b/c
normalize() {
	printf '%s\n' "$1" | sed -e 's|//*|/|g' -e 's|/\./|/|g' -e 's|/\.$||' \
    -e 's|\(.\)/$|\1|'
}

# relpath FROM TO: the relative path from directory FROM to TO (both
# absolute): ../ for each component of FROM below their common part.
relpath() {
	from=$(normalize "$1")/ to=$(normalize "$2")/ up=
	while [ "${to#"$from"}" = "$to" ]; do
		from=${from%/*/}/
		up=../$up
	done
	rest=${to#"$from"}
	rest=${rest%/}
	printf '%s\n' "${up}${rest:-.}" | sed 's|/$||; s|/\.$||'
}

case $libdir in /*) ;; *) echo "gen-config.sh: libdir '$libdir' is not absolute" >&2; exit 1 ;; esac
case $includedir in /*) ;; *) echo "gen-config.sh: includedir '$includedir' is not absolute" >&2; exit 1 ;; esac

# libtool's names: the shared library's file and soname, else the archive.
field() { sed -n "s/^$1='\(.*\)'\$/\1/p" "$la"; }
names=$(field library_names)
if [ -n "$names" ]; then
	libtype=SHARED
	libfile=${names%% *}
	soname=$(field dlname)
else
	libtype=STATIC
	libfile=$(field old_library)
	soname=
fi
if [ -z "$libfile" ]; then
	echo "gen-config.sh: $la names no library" >&2
	exit 1
fi

configdir=$(normalize "$libdir")/cmake/evhappy
to_include=$(relpath "$configdir" "$includedir")
major=${version%%.*}

sed -e "s|@EVHAPPY_VERSION@|$version|g" \
    -e "s|@EVHAPPY_MAJOR@|$major|g" \
    -e "s|@EVHAPPY_LIBTYPE@|$libtype|g" \
    -e "s|@EVHAPPY_LIBFILE@|$libfile|g" \
    -e "s|@EVHAPPY_SONAME@|$soname|g" \
    -e "s|@EVHAPPY_CONFIGDIR@|$configdir|g" \
    -e "s|@EVHAPPY_TO_INCLUDEDIR@|$to_include|g" \
    -e "s|@EVHAPPY_SIZEOF_VOID_P@|$sizeof_void_p|g" \
    "$template" >"$out.tmp"
mv "$out.tmp" "$out"
