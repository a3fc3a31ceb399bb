/*
 * The main() of the Check programs (but the fault walk's and the soak's,
 * which need their arguments): it runs the suite that the program's
 * he_test_suite() makes, which may first set the program up, or exit 77
 * (SKIP) when this machine cannot run it.  CK_VERBOSITY says how much is
 * printed, CK_RUN_SUITE and CK_RUN_CASE what runs, CK_FORK whether each
 * test runs in a child.
 */
#include "he_testutil.h"

int
main(void)
{
	return he_test_run_suite(he_test_suite(), CK_ENV);
}
