#include "he_testutil.h"
#include "he_event.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

int
he_test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the DIR's own fd */
}

int64_t
he_test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
he_test_run_for(struct event_base *base, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

void
he_test_stop(struct event_base *base)
{
	event_base_loopbreak(base);
}

struct evutil_addrinfo *
he_test_ai(const char *addr, int port)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons((unsigned short)port);
		return evhappy_addrinfo_from_sockaddr((struct sockaddr *)&sin,
		    sizeof(sin));
	}
	if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((unsigned short)port);
		return evhappy_addrinfo_from_sockaddr((struct sockaddr *)&sin6,
		    sizeof(sin6));
	}
	return NULL;
}

struct evutil_addrinfo *
he_test_append(struct evutil_addrinfo *a, struct evutil_addrinfo *b)
{
	struct evutil_addrinfo *t = a;

	if (!a)
		return b;
	while (t->ai_next)
		t = t->ai_next;
	t->ai_next = b;
	return a;
}

const char *
he_test_addr_str(const struct sockaddr *sa)
{
	static char buf[INET6_ADDRSTRLEN];
	const void *p = sa->sa_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (!inet_ntop(sa->sa_family, p, buf, sizeof(buf)))
		return "?";
	return buf;
}

void
he_test_require(int cond, const char *why)
{
	if (cond)
		return;
	fprintf(stderr, "SKIP: %s\n", why);
	exit(77);
}
