/* The lab's DNS server in a child process; see he_labproc.h. */
#include "he_labproc.h"
#include "he_lab.h"
#include "he_testutil.h"
#include "he_event.h"

#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pid_t server_pid = -1;
static char server_addr[64];

static int
configure(struct he_lab_dns *d)
{
	static const char *const names[] = { "both.test", "slow.test" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (he_lab_dns_add(d, names[i], EVDNS_TYPE_AAAA, "::1") < 0 ||
		    he_lab_dns_add(d, names[i], EVDNS_TYPE_A, "127.0.0.1") < 0)
			return -1;
	}
	if (he_lab_dns_set(d, "slow.test", EVDNS_TYPE_AAAA, HE_LAB_ANSWER,
	    30) < 0 || he_lab_dns_set(d, "slow.test", EVDNS_TYPE_A,
	    HE_LAB_ANSWER, 30) < 0)
		return -1;
	/* NAT64 (he_synth.c): a name with only an IPv4 address no loopback
	   reaches, and the RFC 7050 name of a DNS64 resolver, late enough
	   for a race to be cancelled while it waits for the prefix */
	if (he_lab_dns_add(d, "v4only.test", EVDNS_TYPE_A, "192.0.2.10") < 0 ||
	    he_lab_dns_add(d, "ipv4only.arpa", EVDNS_TYPE_AAAA,
	    "2001:db8:64::c000:aa") < 0 ||
	    he_lab_dns_set(d, "ipv4only.arpa", EVDNS_TYPE_AAAA,
	    HE_LAB_ANSWER, 30) < 0)
		return -1;
	return he_lab_dns_add(d, "a.test", EVDNS_TYPE_A, "127.0.0.1");
}

static void
serve(int out)
{
	struct event_base *base = event_base_new();
	struct he_lab_dns *d = base ? he_lab_dns_new(base) : NULL;
	const char *a;

	if (!d || configure(d) < 0)
		_exit(1);
	a = he_lab_dns_address(d);
	if (write(out, a, strlen(a) + 1) < 0)
		_exit(1);
	close(out);
	event_base_dispatch(base);
	_exit(0);
}

int
he_labproc_dns_start(void)
{
	int fd;
	ssize_t n;

	server_pid = he_lab_fork(&fd);
	if (server_pid < 0)
		return -1;
	if (server_pid == 0)
		serve(fd);
	n = read(fd, server_addr, sizeof(server_addr) - 1);
	close(fd);
	if (n <= 1) {
		he_labproc_dns_stop();
		return -1;
	}
	server_addr[n] = '\0';
	return 0;
}

void
he_labproc_dns_stop(void)
{
	he_lab_reap(server_pid, SIGKILL);
	server_pid = -1;
}

pid_t
he_labproc_dns_pid(void)
{
	return server_pid;
}

const char *
he_labproc_dns_address(void)
{
	return server_pid > 0 ? server_addr : "";
}

struct evdns_base *
he_labproc_dns_client(struct event_base *base)
{
	return server_pid > 0 ? he_lab_dns_client_at(server_addr, base) :
	    NULL;
}

int
he_labproc_fake_gai(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res)
{
	const char *a = hints->ai_family == AF_INET6 ? "::1" : "127.0.0.1";

	if (strncmp(node, "slow.", 5) == 0)
		he_test_sleep_ms(30);
	if (strncmp(node, "nx.", 3) == 0)
		return EAI_NONAME;
	if (strncmp(node, "v4only.", 7) == 0) {
		if (hints->ai_family == AF_INET6)
			return EAI_NONAME;
		a = "192.0.2.10";
	}
	if (strcmp(node, "ipv4only.arpa") == 0) {
		if (hints->ai_family != AF_INET6)
			return EAI_NONAME;
		he_test_sleep_ms(30);
		a = "2001:db8:64::c000:aa";
	}
	return he_lab_gai_numeric(a, service, hints, res);
}

void
he_labproc_stop(enum he_stop how, struct evhappy_request **req,
    struct evhappy **he, struct bufferevent **bev)
{
	switch (how) {
	case HE_STOP_CANCEL:
		evhappy_request_cancel(*req);
		*req = NULL;
		break;
	case HE_STOP_FREE_CTX:
		evhappy_free(*he);
		*he = NULL;
		break;
	case HE_STOP_FREE_BEV:
		bufferevent_free(*bev);
		*bev = NULL;
		break;
	default:
		break;
	}
}

int
he_labproc_main(char **argv, Suite *(*make)(void))
{
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (he_labproc_dns_start() < 0) {
		fprintf(stderr, "%s: cannot start the DNS server\n", argv[0]);
		return EXIT_FAILURE;
	}
	rc = he_test_run_suite(make(), CK_ENV);
	he_labproc_dns_stop();
	return rc;
}
