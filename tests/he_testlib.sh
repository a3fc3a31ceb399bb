# What the shell tests share; a test sources it:
#   . "$top_srcdir/tests/he_testlib.sh"

# wait_written FILE: wait up to 10 s for FILE to be non-empty (a helper
# started in the background writes it once it is ready); fails when it
# never is.
wait_written() {
	_ww_i=0
	while [ ! -s "$1" ] && [ "$_ww_i" -lt 100 ]; do
		sleep 0.1 2>/dev/null || sleep 1
		_ww_i=$((_ww_i + 1))
	done
	[ -s "$1" ]
}
