/* The Check tests' fixture around the gate (he_gate.h); apart from
   he_gate.c, which the benchmarks link without Check. */
#include "he_gate.h"
#include "he_resolve.h"
#include "he_testutil.h"

int
he_gate_fx_begin(struct he_test_fx *f, const char *addr)
{
	he_test_fx_begin(f);
	he_gate_reset();
	return addr ? he_test_fx_accept(f, addr) : 0;
}

void
he_gate_fx_end(struct he_test_fx *f)
{
	he_resolve_set_gai_hook_(NULL);
	he_test_fx_end(f);
}
