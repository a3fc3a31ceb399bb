/*
 * The benchmark programs' measuring tools; see bench_util.h.
 */
#include "bench_util.h"
#include "he_event.h"
#include "he_lab.h"
#include "he_time.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

int64_t
bench_now_us(void)
{
	return he_now_();	/* the library's own clock */
}

int64_t
bench_cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	    ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

long
bench_status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t len = strlen(field);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

long
bench_threads(void)
{
	return bench_status_kib("Threads");
}

int
bench_fds(void)
{
	return he_lab_count_dir("/proc/self/fd");
}

struct evutil_addrinfo *
bench_loopback_target(int port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return evhappy_addrinfo_from_sockaddr((struct sockaddr *)&sin,
	    sizeof(sin));
}

long
bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return (long)rl.rlim_cur;
}

/* ---- the accepting child ------------------------------------------------ */

static pid_t child = -1;

static int
listen_socket(const char *addr, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		len = sizeof(*sin6);
	} else {
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* the backlog is capped by net.core.somaxconn */
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 65535) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Accept and close until the parent goes. */
static void
accept_forever(const int *fd, int n)
{
	struct pollfd pfd[BENCH_MAX_PORTS];
	int i, c;

	for (i = 0; i < n; i++) {
		pfd[i].fd = fd[i];
		pfd[i].events = POLLIN;
	}
	for (;;) {
		if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR)
			_exit(1);
		if (getppid() == 1)
			_exit(0);
		for (i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				while ((c = accept(fd[i], NULL, NULL)) >= 0)
					close(c);
	}
}

static int
fcntl_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
bench_ports_for(int n)
{
	int k = n / 500 + 1;

	return k < BENCH_MAX_PORTS ? k : BENCH_MAX_PORTS;
}

int
bench_listener_start(const char *addr, int n, int *ports)
{
	int fd[BENCH_MAX_PORTS], i, pipe_fd;

	if (n < 1 || n > BENCH_MAX_PORTS)
		return -1;
	for (i = 0; i < n; i++) {
		fd[i] = listen_socket(addr, 0);
		/* accept in the child must not block on an empty queue */
		if (fd[i] < 0 || fcntl_nonblock(fd[i]) < 0 ||
		    (ports[i] = bound_port(fd[i])) <= 0)
			return -1;
	}
	child = he_lab_fork(&pipe_fd);
	if (child < 0)
		return -1;
	close(pipe_fd);		/* nothing to say: the ports are known */
	if (child == 0)
		accept_forever(fd, n);
	for (i = 0; i < n; i++)
		close(fd[i]);
	return 0;
}

void
bench_listener_stop(void)
{
	he_lab_reap(child, SIGTERM);
	child = -1;
}
