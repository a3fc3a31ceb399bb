#!/bin/bash
# Installs the packages ./quickstart.sh deb made and checks them as their
# user would, on this machine (as root; meant for a fresh Debian 12):
#   packaging/test-install.sh [DIR]      DIR holds the .deb files (build-deb)
# It installs them with apt-get (which also fetches their dependencies),
# then the tools the checks use (gcc, libc6-dev, pkgconf, man-db, cmake,
# make), and runs packaging/debian/tests/installed (also the packages'
# autopkgtest): a client builds with
# `cc x.c $(pkg-config --cflags --libs libevhappy)` and with CMake
# (find_package(evhappy 0.2), evhappy::evhappy) and runs, `evhappy --demo`
# runs, `man evhappy_new` opens.
#
# On a fresh Debian 12 (for instance a chroot made with `debootstrap
# --variant=minbase bookworm`), as root, from a clone:
#   ./quickstart.sh deb && packaging/test-install.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../build-deb}

shopt -s nullglob
debs=()
for f in "$dir"/*.deb; do
	case $f in *-dbgsym_*) ;; *) debs+=("$f") ;; esac
done
if [ ${#debs[@]} -eq 0 ]; then
	echo "test-install: no .deb files in $dir (make them with ./quickstart.sh deb)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "test-install: run as root (it installs packages)" >&2
	exit 1
fi
for i in "${!debs[@]}"; do
	case ${debs[i]} in /*) ;; *) debs[i]=./${debs[i]} ;; esac
done

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
echo "== installing ${debs[*]##*/}"
apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
apt-get install -y -qq --no-install-recommends gcc libc6-dev pkgconf man-db \
    cmake make >/dev/null
dpkg-query -W -f='${Package} ${Version} ${Status}\n' libevhappy0 libevhappy-dev evhappy
echo "== files"
dpkg -L libevhappy0 libevhappy-dev evhappy | grep -E '\.so|\.pc$|\.h$|\.cmake$|/bin/|man1|man7' | sort

exec "$here/debian/tests/installed"
