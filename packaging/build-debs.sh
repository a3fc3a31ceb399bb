#!/bin/bash
# Debian packages from the release tarball: what ./quickstart.sh deb runs
# once the build dependencies are there (build-essential, debhelper,
# dpkg-dev, fakeroot, lintian and the quick start's packages).
#
#   1. make dist in build/ (configured there if it is not yet);
#   2. unpack it in build-deb/ as evhappy_VERSION.orig.tar.gz, copy
#      packaging/debian/ in (the tarball itself carries no debian/);
#   3. dpkg-buildpackage -us -uc: source package and the binary packages
#      libevhappy0, libevhappy-dev and evhappy, the test suite run by
#      dh_auto_test;
#   4. lintian on the result, failing on any error.
# The packages are left in build-deb/; packaging/test-install.sh installs
# and checks them.  DEB_BUILD_OPTIONS is honoured (nocheck, parallel=N).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p build
if [ ! -f build/Makefile ] || [ configure -nt build/Makefile ]; then
	(cd build && ../configure >/dev/null)
fi

version=$(sed -n 's/^PACKAGE_VERSION = //p' build/Makefile)
debversion=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
if [ "${debversion%-*}" != "$version" ]; then
	echo "build-debs: packaging/debian/changelog is at $debversion but the release is $version;" >&2
	echo "  add an entry first: dch -c packaging/debian/changelog -v $version-1" >&2
	exit 1
fi

echo "== make dist (evhappy $version)"
rm -f "build/evhappy-$version.tar.gz"
make -C build -s dist >/dev/null

out=build-deb
rm -rf "$out"
mkdir "$out"
cp "build/evhappy-$version.tar.gz" "$out/evhappy_$version.orig.tar.gz"
tar -C "$out" -xzf "$out/evhappy_$version.orig.tar.gz"
cp -r packaging/debian "$out/evhappy-$version/debian"

echo "== dpkg-buildpackage (log: $out/build.log)"
jobs=$(nproc 2>/dev/null || echo 1)
if ! (cd "$out/evhappy-$version" && dpkg-buildpackage -us -uc -j"$jobs") >"$out/build.log" 2>&1; then
	tail -80 "$out/build.log"
	echo "build-debs: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
fi
grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR):|^(PASS|SKIP|FAIL|ERROR): ' "$out/build.log" || true

changes=$out/evhappy_${debversion}_$(dpkg-architecture -qDEB_HOST_ARCH).changes
echo "== lintian $changes"
lintian -I --fail-on error "$changes"

echo "== packages in $out/"
ls -1 "$out"/*.deb
echo "Install them with: apt-get install ./$out/*.deb (then packaging/test-install.sh checks them)"
