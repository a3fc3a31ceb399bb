/*
 * The network-identity tests' driver (tests/check_netid_netns.sh): one
 * process per question, so that "the same key in two processes" is asked
 * of two processes.
 *
 *   he_netid_probe key
 *       print the key (16 hex digits), a space and the description
 *   he_netid_probe none
 *       print the key of the network without a default route
 *   he_netid_probe watch MS READY [ev]
 *       make a watch, create the file READY, and wait at most MS ms for
 *       it to fire (with "ev": on an event_base, through its callback;
 *       else poll(2) on its fd and he_netwatch_changed_); print "changed"
 *       and the key read afterwards and exit 0, or print "quiet" and exit 1
 *   he_netid_probe cost N
 *       read the key N times; print the mean microseconds of one reading
 */
#include "he_netid.h"
#include "he_time.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

static int
print_key(void)
{
	struct he_netid id;
	char desc[1024];

	if (he_netid_read_(&id) < 0) {
		fprintf(stderr, "he_netid_probe: he_netid_read_: %s\n",
		    strerror(errno));
		return 2;
	}
	he_netid_format_(&id, desc, sizeof(desc));
	printf("%016" PRIx64 " %s\n", id.key, desc);
	return 0;
}

static int
touch(const char *path)
{
	FILE *fp = fopen(path, "w");

	if (!fp) {
		fprintf(stderr, "he_netid_probe: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	fclose(fp);
	return 0;
}

struct evwait {
	struct event_base *base;
	int fired;
};

static void
on_change(struct he_netwatch *w, void *arg)
{
	struct evwait *ew = arg;

	if (he_netwatch_changed_(w) != 0) {
		ew->fired = 1;
		event_base_loopbreak(ew->base);
	}
}

static int
watch(int ms, const char *ready, int on_base)
{
	struct he_netwatch *w = he_netwatch_new_();
	int fired = 0, rc;

	if (!w) {
		fprintf(stderr, "he_netid_probe: he_netwatch_new_: %s\n",
		    strerror(errno));
		return 2;
	}
	if (touch(ready) < 0) {
		he_netwatch_free_(w);
		return 2;
	}
	if (on_base) {
		struct evwait ew;
		struct timeval tv;

		ew.base = event_base_new();
		ew.fired = 0;
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		if (!ew.base || he_netwatch_attach_(w, ew.base, on_change,
		    &ew) < 0) {
			fprintf(stderr, "he_netid_probe: attach failed\n");
			return 2;
		}
		event_base_loopexit(ew.base, &tv);
		event_base_dispatch(ew.base);
		fired = ew.fired;
		he_netwatch_detach_(w);
		event_base_free(ew.base);
	} else {
		int64_t end = he_now_() + (int64_t)ms * 1000;

		while (!fired && he_now_() < end) {
			struct pollfd p;

			p.fd = he_netwatch_fd_(w);
			p.events = POLLIN;
			poll(&p, 1, (int)((end - he_now_()) / 1000) + 1);
			fired = he_netwatch_changed_(w) != 0;
		}
	}
	he_netwatch_free_(w);
	if (!fired) {
		printf("quiet\n");
		return 1;
	}
	printf("changed ");
	rc = print_key();
	return rc;
}

static int
cost(int n)
{
	struct he_netid id;
	int64_t t0;
	int i;

	if (n < 1)
		n = 1;
	t0 = he_now_();
	for (i = 0; i < n; i++)
		if (he_netid_read_(&id) < 0) {
			fprintf(stderr, "he_netid_probe: %s\n",
			    strerror(errno));
			return 2;
		}
	printf("%.1f\n", (double)(he_now_() - t0) / n);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "key"))
		return print_key();
	if (argc >= 2 && !strcmp(argv[1], "none")) {
		printf("%016" PRIx64 "\n", he_netid_none_key_());
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "watch"))
		return watch(atoi(argv[2]), argv[3],
		    argc >= 5 && !strcmp(argv[4], "ev"));
	if (argc >= 3 && !strcmp(argv[1], "cost"))
		return cost(atoi(argv[2]));
	fprintf(stderr, "usage: he_netid_probe key | none | "
	    "watch MS READY [ev] | cost N\n");
	return 2;
}
