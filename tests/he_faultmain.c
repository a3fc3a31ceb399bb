/*
 * The main() of the programs that count the heap and use the lab's DNS
 * server in a child (the fault walk, the soak): the heap counted exactly
 * (he_fault_heap_exact), then the program's he_test_suite() run with the
 * server up (he_labproc_main).
 */
#include "he_fault.h"
#include "he_labproc.h"
#include "he_testutil.h"

int
main(int argc, char **argv)
{
	(void)argc;
	he_fault_heap_exact(argv);
	return he_labproc_main(argv, he_test_suite);
}
