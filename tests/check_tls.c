/*
 * The drop-in on layered bufferevents: an OpenSSL client bufferevent raced
 * to a TLS echo server (CONNECTED only after the handshake), and a filter
 * bufferevent over a socket bufferevent raced to a plain echo server.
 *
 * The certificate is made at test time (EC P-256, self-signed, one day);
 * nothing is read from or written to disk.  Built only when configure finds
 * OpenSSL and libevent_openssl.
 */
#include "he_event.h"
#include "he_lab.h"
#include "he_testutil.h"
#include "he_testrec.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static int have_v6;
static EVP_PKEY *g_key;
static X509 *g_cert;
static SSL_CTX *g_sctx, *g_cctx;

/* --- helpers -------------------------------------------------------------- */


static void
print_ssl_errors(const char *where)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "check_tls: %s: %s\n", where, buf);
	}
}

/* --- the certificate ------------------------------------------------------- */

static EVP_PKEY *
make_key(void)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);

	if (!ctx)
		return NULL;
	if (EVP_PKEY_keygen_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx,
	    NID_X9_62_prime256v1) <= 0 ||
	    EVP_PKEY_keygen(ctx, &pkey) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static X509 *
make_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;

	if (!x)
		return NULL;
	if (!X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) ||
	    !X509_set_pubkey(x, key))
		goto fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto fail;
	ext = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name,
	    "DNS:localhost,IP:127.0.0.1");
	if (!ext)
		goto fail;
	if (!X509_add_ext(x, ext, -1)) {
		X509_EXTENSION_free(ext);
		goto fail;
	}
	X509_EXTENSION_free(ext);
	if (!X509_sign(x, key, EVP_sha256()))
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

static int
tls_setup(void)
{
	g_key = make_key();
	if (!g_key)
		return -1;
	g_cert = make_cert(g_key);
	if (!g_cert)
		return -1;

	g_sctx = SSL_CTX_new(TLS_server_method());
	if (!g_sctx || SSL_CTX_use_certificate(g_sctx, g_cert) != 1 ||
	    SSL_CTX_use_PrivateKey(g_sctx, g_key) != 1 ||
	    SSL_CTX_check_private_key(g_sctx) != 1)
		return -1;

	/* the client trusts exactly this certificate and checks the name */
	g_cctx = SSL_CTX_new(TLS_client_method());
	if (!g_cctx ||
	    X509_STORE_add_cert(SSL_CTX_get_cert_store(g_cctx), g_cert) != 1)
		return -1;
	SSL_CTX_set_verify(g_cctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

static void
tls_teardown(void)
{
	SSL_CTX_free(g_cctx);
	SSL_CTX_free(g_sctx);
	X509_free(g_cert);
	EVP_PKEY_free(g_key);
}

/* --- echo servers ------------------------------------------------------------ */

#define MAXCONNS 8

struct server {
	struct event_base *base;
	struct evconnlistener *lev;
	int tls;
	int port;
	int accepted;
	struct bufferevent *conns[MAXCONNS];
};

static void
srv_drop(struct server *s, struct bufferevent *bev)
{
	int i;
	for (i = 0; i < MAXCONNS; i++)
		if (s->conns[i] == bev)
			s->conns[i] = NULL;
	bufferevent_free(bev);
}

static void
srv_read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_add_buffer(bufferevent_get_output(bev),
	    bufferevent_get_input(bev));
}

static void
srv_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct server *s = arg;

	if (what & BEV_EVENT_ERROR)
		print_ssl_errors("server");
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		srv_drop(s, bev);
}

static void
srv_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *s = arg;
	struct bufferevent *bev;
	int i;

	(void)lev; (void)sa; (void)salen;
	s->accepted++;
	if (s->tls) {
		SSL *ssl = SSL_new(g_sctx);
		ck_assert_ptr_nonnull(ssl);
		bev = bufferevent_openssl_socket_new(s->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	} else {
		bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	ck_assert_ptr_nonnull(bev);
	for (i = 0; i < MAXCONNS && s->conns[i]; i++)
		;
	ck_assert_int_lt(i, MAXCONNS);
	s->conns[i] = bev;
	bufferevent_setcb(bev, srv_read_cb, NULL, srv_event_cb, s);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
srv_start(struct server *s, struct event_base *base, int tls)
{
	struct sockaddr_in sin;

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->tls = tls;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lev = evconnlistener_new_bind(base, srv_accept_cb, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
	    (struct sockaddr *)&sin, sizeof(sin));
	ck_assert_ptr_nonnull(s->lev);
	s->port = he_test_fd_port(evconnlistener_get_fd(s->lev), 0);
	ck_assert_int_gt(s->port, 0);
}

static void
srv_free(struct server *s)
{
	int i;
	for (i = 0; i < MAXCONNS; i++)
		if (s->conns[i])
			srv_drop(s, s->conns[i]);
	evconnlistener_free(s->lev);
	s->lev = NULL;
}

/* --- the client's view ------------------------------------------------------- */

struct client {
	struct he_test_bres b;		/* the events */
	int handshake_done;		/* SSL_is_init_finished at CONNECTED */
	long verify;			/* SSL_get_verify_result at CONNECTED */
	char buf[64];
	int got;
	int echoed;			/* got >= 5 */
};

static void
cli_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	SSL *ssl;

	he_test_bev_cb(bev, what, &c->b);
	ssl = bufferevent_openssl_get_ssl(bev);
	if (ssl) {
		c->handshake_done = SSL_is_init_finished(ssl);
		c->verify = SSL_get_verify_result(ssl);
	}
	if (what & BEV_EVENT_ERROR)
		print_ssl_errors("client");
}

static void
cli_read_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	size_t n = evbuffer_remove(bufferevent_get_input(bev), c->buf + c->got,
	    sizeof(c->buf) - 1 - (size_t)c->got);

	c->got += (int)n;
	c->buf[c->got] = '\0';
	if (c->got >= 5)
		c->echoed = 1;
}

/* An OpenSSL client bufferevent, not connected yet, reporting into c (which
 * it clears); with host, SNI and certificate name checks for it. */
static struct bufferevent *
tls_client_new(struct event_base *base, struct client *c, const char *host)
{
	SSL *ssl = SSL_new(g_cctx);
	struct bufferevent *bev;

	ck_assert_ptr_nonnull(ssl);
	if (host) {
		ck_assert_int_eq(SSL_set_tlsext_host_name(ssl, host), 1);
		ck_assert_int_eq(SSL_set1_host(ssl, host), 1);
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	memset(c, 0, sizeof(*c));
	bufferevent_setcb(bev, cli_read_cb, NULL, cli_event_cb, c);
	return bev;
}

/* Write "hello" and wait for the echo. */
static void
echo_roundtrip(struct event_base *base, struct bufferevent *bev,
    struct client *c)
{
	ck_assert_int_eq(bufferevent_write(bev, "hello", 5), 0);
	he_test_run_until(base, HE_TEST_UP(2000), &c->echoed);
	ck_assert_int_eq(c->got, 5);
	ck_assert_str_eq(c->buf, "hello");
}

/* [a black hole: ::1 where IPv6 works, else 127.0.0.1; 127.0.0.1:port],
 * the black hole f's.  The race past a black hole does not need IPv6, so
 * it is never skipped. */
static struct evutil_addrinfo *
race_list(struct he_test_fx *f, int port)
{
	const struct he_test_listen_spec hole = {
		HE_TEST_HOLE, have_v6 ? "::1" : "127.0.0.1"
	};

	return he_test_append(he_test_fx_listen_apart(f, &hole, 1),
	    he_test_ai("127.0.0.1", port));
}

/* The race started on c's bufferevent at t0 (racing fd's port: get_fd's
 * answer) ends in exactly one CONNECTED to s (which accepted it once),
 * within 250..hi_ms when hi_ms is not 0 (a black hole came first). */
static void
wait_connected(struct he_test_fx *f, struct server *s, struct client *c,
    struct bufferevent *bev, int64_t t0, int hi_ms)
{
	evutil_socket_t fd;
	int64_t el;

	ck_assert_int_eq(c->b.calls, 0);
	he_test_run_until(f->base, HE_TEST_UP(3000), &c->b.calls);
	el = c->b.t - t0;
	ck_assert_int_eq(c->b.calls, 1);
	ck_assert_msg(c->b.what == BEV_EVENT_CONNECTED, "event 0x%x, error %d",
	    c->b.what, c->b.err);
	fd = bufferevent_getfd(bev);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(he_test_fd_port(fd, 1), s->port);
	ck_assert_int_eq(s->accepted, 1);
	if (hi_ms)
		ck_assert_msg(el >= 250 && el <= HE_TEST_UP(hi_ms),
		    "CONNECTED after %lld ms, want 250..%d", (long long)el,
		    hi_ms);
}

/* Then the echo works, still one event; bev, s and f are freed. */
static void
echo_and_end(struct he_test_fx *f, struct server *s, struct client *c,
    struct bufferevent *bev)
{
	echo_roundtrip(f->base, bev, c);
	he_test_run_until(f->base, 30, NULL);
	ck_assert_int_eq(c->b.calls, 1);
	bufferevent_free(bev);	/* frees ssl or the filter's bottom, and the
				   socket */
	he_test_run_until(f->base, 30, NULL);
	srv_free(s);
	he_test_fx_end(f);
}

/* --- TLS ---------------------------------------------------------------------- */

/* _i: 0 = evhappy_connect_addrinfo (with a black hole first when IPv6
 * works), 1 = evhappy_connect_hostname with the literal 127.0.0.1 */
START_TEST(test_tls_race)
{
	struct he_test_fx f;
	struct server s;
	struct evutil_addrinfo *l = NULL;
	struct client c;
	struct bufferevent *bev;
	int64_t t0;

	he_test_fx_begin(&f);
	srv_start(&s, f.base, 1);
	if (_i == 0)
		l = race_list(&f, s.port);

	bev = tls_client_new(f.base, &c, "localhost");
	bufferevent_enable(bev, EV_READ | EV_WRITE);

	t0 = he_test_now_ms();
	if (_i == 0) {
		ck_assert_int_eq(evhappy_connect_addrinfo(f.he, bev, l), 0);
		evhappy_addrinfo_free(l);
	} else {
		ck_assert_int_eq(evhappy_connect_hostname(f.he, bev, AF_UNSPEC,
		    "127.0.0.1", s.port), 0);
	}
	wait_connected(&f, &s, &c, bev, t0, _i == 0 ? 500 : 0);
	ck_assert_msg(c.handshake_done, "CONNECTED before the TLS handshake");
	ck_assert_int_eq(c.verify, X509_V_OK);
	ck_assert_int_eq(c.b.fd, bufferevent_getfd(bev));
	echo_and_end(&f, &s, &c, bev);
}
END_TEST

/* A TLS server that is not there: the error still arrives once. */
START_TEST(test_tls_refused)
{
	static const struct he_test_listen_spec refuser = {
		HE_TEST_REFUSE, "127.0.0.1"
	};
	struct he_test_fx f;
	struct client c;
	struct bufferevent *bev;
	struct evutil_addrinfo *l;

	he_test_fx_begin(&f);
	l = he_test_fx_listen_apart(&f, &refuser, 1);
	bev = tls_client_new(f.base, &c, NULL);
	ck_assert_int_eq(evhappy_connect_addrinfo(f.he, bev, l), 0);
	evhappy_addrinfo_free(l);
	he_test_run_until(f.base, HE_TEST_UP(2000), &c.b.calls);
	he_test_check_bev_error(&c.b, ECONNREFUSED, 0);
	ck_assert_int_eq(evhappy_get_dns_error(bev), 0);
	he_test_run_until(f.base, 30, NULL);
	ck_assert_int_eq(c.b.calls, 1);
	bufferevent_free(bev);
	he_test_fx_end(&f);
}
END_TEST

/* Freeing the TLS bufferevent during the race. */
START_TEST(test_tls_free_during_race)
{
	static const struct he_test_listen_spec hole = {
		HE_TEST_HOLE, "127.0.0.1"
	};
	struct he_test_fx f;
	struct client c;
	struct bufferevent *bev;
	struct evutil_addrinfo *l;
	int fds_mid;

	he_test_fx_begin(&f);
	l = he_test_fx_listen_apart(&f, &hole, 1);
	fds_mid = he_test_count_fds();
	bev = tls_client_new(f.base, &c, NULL);
	ck_assert_int_eq(evhappy_connect_addrinfo(f.he, bev, l), 0);
	evhappy_addrinfo_free(l);
	he_test_run_until(f.base, 100, NULL);
	bufferevent_free(bev);
	he_test_run_until(f.base, HE_TEST_UP(400), NULL);
	ck_assert_int_eq(c.b.calls, 0);
	ck_assert_int_eq(he_test_count_fds(), fds_mid);
	he_test_fx_end(&f);
}
END_TEST

/* --- a filter over a socket bufferevent --------------------------------------- */

/* The filter's two directions, counted. */
struct passes {
	struct bufferevent *filt;
	int in, out;
};

static enum bufferevent_filter_result
pass(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *ctx)
{
	struct passes *p = ctx;

	(void)lim; (void)mode;
	if (dst == bufferevent_get_input(p->filt))
		p->in++;
	else
		p->out++;
	evbuffer_add_buffer(dst, src);
	return BEV_OK;
}

START_TEST(test_filter_race)
{
	struct he_test_fx f;
	struct server s;
	struct evutil_addrinfo *l;
	struct client c;
	struct bufferevent *under, *filt;
	struct passes p;
	int64_t t0;

	he_test_fx_begin(&f);
	srv_start(&s, f.base, 0);
	l = race_list(&f, s.port);
	memset(&p, 0, sizeof(p));

	under = bufferevent_socket_new(f.base, -1, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(under);
	filt = bufferevent_filter_new(under, pass, pass, BEV_OPT_CLOSE_ON_FREE,
	    NULL, &p);
	ck_assert_ptr_nonnull(filt);
	p.filt = filt;
	memset(&c, 0, sizeof(c));
	bufferevent_setcb(filt, cli_read_cb, NULL, cli_event_cb, &c);
	bufferevent_enable(filt, EV_READ | EV_WRITE);

	t0 = he_test_now_ms();
	ck_assert_int_eq(evhappy_connect_addrinfo(f.he, filt, l), 0);
	evhappy_addrinfo_free(l);
	wait_connected(&f, &s, &c, under, t0, 450);
	echo_and_end(&f, &s, &c, filt);
	/* the echo went through the filter both ways */
	ck_assert_int_gt(p.out, 0);
	ck_assert_int_gt(p.in, 0);
}
END_TEST

static Suite *
tls_suite(void)
{
	const struct he_test_def tests[] = {
		HE_TCASE("layered", 20),
		HE_LOOP(test_tls_race, 2),
		HE_TEST(test_tls_refused),
		HE_TEST(test_tls_free_during_race),
		HE_TEST(test_filter_race),
	};

	return he_test_suite_of("tls", tests, HE_TEST_N(tests));
}

Suite *
he_test_suite(void)
{
	if (tls_setup() != 0) {
		print_ssl_errors("setup");
		fprintf(stderr, "check_tls: could not make a certificate\n");
		tls_teardown();
		exit(EXIT_FAILURE);
	}
	atexit(tls_teardown);
	have_v6 = he_lab_ipv6_loopback_works();
	if (!have_v6)
		fprintf(stderr, "check_tls: no IPv6 loopback, racing "
		    "past an IPv4 black hole instead\n");
	return tls_suite();
}
