#!/bin/sh
# What a race and a context hold (INFO rows; BENCHMARKS.md explains them):
# heap bytes in use per race (glibc mallinfo2) after 1,000 start calls and
# after the loop turn that begins them, against a black hole so none ends;
# and the sizes of the structures.
set -u
. "$BENCH_LIB"
out=$("$BENCH_BIN/bench_memory" 1000) || {
	row "memory" "bench_memory" "failed" "" FAIL; exit 0; }
v() { printf '%s\n' "$out" | sed -n "s/^$1=//p"; }
for m in libevent bev cb; do
	case $m in
	libevent) l="libevent bufferevent_socket_connect" ;;
	bev) l="evhappy on a bufferevent" ;;
	cb) l="evhappy callback API" ;;
	esac
	row "memory per race (heap bytes)" "$l" \
	    "$(v heap.$m.after_start) after the call, $(v heap.$m.racing) connecting" "" INFO
done
row "memory per context" "evhappy_new" "$(v heap.context) heap bytes" "" INFO
row "memory per address" "one list entry" \
    "IPv4 $(v heap.address_v4), IPv6 $(v heap.address_v6) heap bytes" "" INFO
row "struct sizes (bytes)" "sizeof" \
    "$(printf '%s\n' "$out" | sed -n 's/^size\.//p' | tr '\n' ' ')" "" INFO
