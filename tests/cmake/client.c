/*
 * Built with CMake against an installed evhappy (tests/check_cmake.sh):
 * races a connect to a listener of its own on 127.0.0.1 and prints the
 * report, as a line and as a waterfall.  Exit status 0 when it connected,
 * the waterfall shows the winner and the versions agree.
 */
#include <he_event.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

static int connected, drawn;

static void
on_connect(evutil_socket_t fd, const struct evhappy_report *r, void *arg)
{
	char line[512], picture[4096];

	(void)arg;
	evhappy_report_format(r, line, sizeof(line));
	printf("%s\n", line);
	if (evhappy_report_format_style(r, EVHAPPY_REPORT_WATERFALL, 72,
	    picture, sizeof(picture)) > 0) {
		fputs(picture, stdout);
		drawn = strstr(picture, " WON\n") != NULL;
	}
	if (fd >= 0) {
		connected = 1;
		evutil_closesocket(fd);
	}
}

int
main(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct event_base *base = event_base_new();
	struct evhappy *he = base ? evhappy_new(base, NULL) : NULL;
	struct evutil_addrinfo *ai = NULL;
	evutil_socket_t l = socket(AF_INET, SOCK_STREAM, 0);
	int rc = 1;

	if (!he || l < 0)
		goto end;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(l, 4) < 0 ||
	    getsockname(l, (struct sockaddr *)&sin, &len) < 0)
		goto end;
	ai = evhappy_addrinfo_from_sockaddr((struct sockaddr *)&sin, len);
	if (!ai || !evhappy_start_connection(he, ai, on_connect, NULL))
		goto end;
	event_base_dispatch(base);
	printf("evhappy %s (header %s)\n", evhappy_get_version(),
	    EVHAPPY_VERSION_STRING);
	rc = !connected || !drawn ||
	    evhappy_get_version_number() != EVHAPPY_VERSION_NUMBER;
end:
	evhappy_addrinfo_free(ai);
	if (l >= 0)
		close(l);
	evhappy_free(he);
	if (base)
		event_base_free(base);
	return rc;
}
