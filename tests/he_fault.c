/*
 * Fault injection, allocations only (see he_fault.h).  A failed allocation
 * returns NULL with errno ENOMEM, as the C library's would.
 */
#include "he_fault.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);

static struct {
	long fail_at;		/* 0: disarmed */
	int persistent;
	long count;
} plan[HE_FAULT_NCALLS];
static int fired;

void
he_fault_arm(enum he_fault_call call, long n, int persistent)
{
	plan[call].fail_at = n > 0 ? n : 0;
	plan[call].persistent = persistent;
	plan[call].count = 0;
	fired = 0;
}

void
he_fault_disarm_all(void)
{
	memset(plan, 0, sizeof(plan));
	fired = 0;
}

long
he_fault_count(enum he_fault_call call)
{
	return plan[call].count;
}

int
he_fault_fired(void)
{
	return fired;
}

/* Count one call; 1 when it must fail. */
static int
should_fail(enum he_fault_call call)
{
	long n = ++plan[call].count;

	if (!plan[call].fail_at || n < plan[call].fail_at ||
	    (n > plan[call].fail_at && !plan[call].persistent))
		return 0;
	fired = 1;
	return 1;
}

void *
__wrap_malloc(size_t size)
{
	if (should_fail(HE_FAULT_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(size);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	if (should_fail(HE_FAULT_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t size)
{
	if (should_fail(HE_FAULT_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_realloc(p, size);
}

char *
__wrap_strdup(const char *s)
{
	if (should_fail(HE_FAULT_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_strdup(s);
}
