/* The lab's DNS server in a child process; see he_labproc.h. */
#include "he_labproc.h"
#include "he_lab.h"
#include "he_testutil.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

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
	int p[2];
	ssize_t n;
	pid_t parent = getpid();

	if (pipe(p) < 0)
		return -1;
	server_pid = fork();
	if (server_pid < 0)
		return -1;
	if (server_pid == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		serve(p[1]);
	}
	close(p[1]);
	n = read(p[0], server_addr, sizeof(server_addr) - 1);
	close(p[0]);
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
	if (server_pid <= 0)
		return;
	kill(server_pid, SIGKILL);
	while (waitpid(server_pid, NULL, 0) < 0 && errno == EINTR)
		;
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
	struct evdns_base *b;

	/* Flags 0: no resolv.conf, no hosts file, no search list. */
	if (server_pid <= 0 || !(b = evdns_base_new(base, 0)))
		return NULL;
	if (evdns_base_nameserver_ip_add(b, server_addr) != 0 ||
	    evdns_base_set_option(b, "timeout:", "1") != 0 ||
	    evdns_base_set_option(b, "attempts:", "1") != 0 ||
	    evdns_base_set_option(b, "randomize-case:", "0") != 0) {
		evdns_base_free(b, 0);
		return NULL;
	}
	return b;
}

int
he_labproc_fake_gai(const char *node, const char *service,
    const struct evutil_addrinfo *hints, struct evutil_addrinfo **res)
{
	struct addrinfo h;

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
	memset(&h, 0, sizeof(h));
	h.ai_family = hints->ai_family;
	h.ai_socktype = hints->ai_socktype;
	h.ai_protocol = hints->ai_protocol;
	h.ai_flags = AI_NUMERICHOST;
	return getaddrinfo(a, service, &h, (struct addrinfo **)res);
}
