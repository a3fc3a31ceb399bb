/*
 * SVCB and HTTPS records for the lab, written as a zone file would write
 * them: "1 svc.example. alpn=h2,http/1.1 port=8443 ipv4hint=192.0.2.1".
 * Keys go out in the order written (a test may write them wrong on
 * purpose); values are the key's own syntax, hex:HEX for raw bytes, or
 * len:N for N filler bytes.
 */
#include "he_lab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

struct wire {
	unsigned char *p;
	size_t n, cap;
	int bad;
};

static void
put(struct wire *w, const void *p, size_t n)
{
	if (w->bad || n > w->cap - w->n) {
		w->bad = 1;
		return;
	}
	memcpy(w->p + w->n, p, n);
	w->n += n;
}

static void
put8(struct wire *w, unsigned v)
{
	unsigned char b = (unsigned char)v;

	put(w, &b, 1);
}

static void
put16(struct wire *w, unsigned v)
{
	put8(w, (v >> 8) & 0xff);
	put8(w, v & 0xff);
}

/* A name in wire form, uncompressed; "." is the root. */
static void
put_name(struct wire *w, const char *name)
{
	const char *dot;
	size_t n;

	while (*name && strcmp(name, ".") != 0) {
		dot = strchr(name, '.');
		n = dot ? (size_t)(dot - name) : strlen(name);
		if (n == 0 || n > 63)
			w->bad = 1;
		put8(w, (unsigned)n);
		put(w, name, n);
		name += n + (dot ? 1 : 0);
	}
	put8(w, 0);
}

static void
put_hex(struct wire *w, const char *hex)
{
	unsigned v;

	for (; hex[0] && hex[1]; hex += 2) {
		if (sscanf(hex, "%2x", &v) != 1)
			w->bad = 1;
		put8(w, v);
	}
}

int
he_lab_svcb_key(const char *name)
{
	static const char *names[] = { "mandatory", "alpn", "no-default-alpn",
	    "port", "ipv4hint", "ech", "ipv6hint" };
	unsigned i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return (int)i;
	if (!strncmp(name, "key", 3) && name[3])
		return atoi(name + 3);
	return -1;
}

/* One item of a comma-separated value. */
static void
put_item(struct wire *w, int key, const char *item)
{
	unsigned char a[16];
	int k;

	switch (key) {
	case 0:		/* mandatory */
		k = he_lab_svcb_key(item);
		if (k < 0)
			w->bad = 1;
		put16(w, (unsigned)k);
		break;
	case 1:		/* alpn */
		put8(w, (unsigned)strlen(item));
		put(w, item, strlen(item));
		break;
	case 3:		/* port */
		put16(w, (unsigned)atoi(item));
		break;
	case 4:		/* ipv4hint */
		if (inet_pton(AF_INET, item, a) != 1)
			w->bad = 1;
		put(w, a, 4);
		break;
	case 6:		/* ipv6hint */
		if (inet_pton(AF_INET6, item, a) != 1)
			w->bad = 1;
		put(w, a, 16);
		break;
	default:
		put(w, item, strlen(item));
	}
}

static void
put_value(struct wire *w, int key, const char *v)
{
	char copy[1024], *save = NULL, *item;
	int i, n;

	if (!strncmp(v, "hex:", 4)) {
		put_hex(w, v + 4);
		return;
	}
	if (!strncmp(v, "len:", 4)) {
		for (i = 0, n = atoi(v + 4); i < n; i++)
			put8(w, 0x42);
		return;
	}
	if (strlen(v) >= sizeof(copy))
		w->bad = 1;
	snprintf(copy, sizeof(copy), "%s", v);
	for (item = strtok_r(copy, ",", &save); item;
	    item = strtok_r(NULL, ",", &save))
		put_item(w, key, item);
}

/* "key=value" or "key": its key, length and value. */
static void
put_param(struct wire *w, char *tok)
{
	char *eq = strchr(tok, '=');
	size_t at;
	int key;

	if (eq)
		*eq = '\0';
	if ((key = he_lab_svcb_key(tok)) < 0)
		w->bad = 1;
	put16(w, (unsigned)key);
	at = w->n;
	put16(w, 0);
	if (eq)
		put_value(w, key, eq + 1);
	if (!w->bad) {
		w->p[at] = (unsigned char)((w->n - at - 2) >> 8);
		w->p[at + 1] = (unsigned char)(w->n - at - 2);
	}
}

int
he_lab_svcb_rdata(const char *pres, unsigned char *out, size_t cap)
{
	struct wire w = { out, 0, cap, 0 };
	char *copy, *save = NULL, *tok;

	if (!strncmp(pres, "hex:", 4)) {
		put_hex(&w, pres + 4);
		return w.bad ? -1 : (int)w.n;
	}
	if (!(copy = strdup(pres)))
		return -1;
	if ((tok = strtok_r(copy, " ", &save)) != NULL)
		put16(&w, (unsigned)atoi(tok));
	if ((tok = strtok_r(NULL, " ", &save)) != NULL)
		put_name(&w, tok);
	else
		w.bad = 1;
	while ((tok = strtok_r(NULL, " ", &save)) != NULL)
		put_param(&w, tok);
	free(copy);
	return w.bad ? -1 : (int)w.n;
}

int
he_lab_dns_add_https(struct he_lab_dns *d, const char *name,
    const char *pres)
{
	unsigned char *b = malloc(65535);
	int n, rc = -1;

	if (b && (n = he_lab_svcb_rdata(pres, b, 65535)) >= 0)
		rc = he_lab_dns_add_raw(d, name, 65, b, (size_t)n);
	free(b);
	return rc;
}
