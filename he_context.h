/*
 * The context (struct evhappy), as he_event.c keeps it: what a race is
 * started with, and the owner its requests report to (he_request.h).
 * Only he_event.c touches its fields; the header exists so that tests and
 * the memory benchmark can see its size.
 */
#ifndef EVHAPPY_HE_CONTEXT_H_INCLUDED_
#define EVHAPPY_HE_CONTEXT_H_INCLUDED_

#include "he_request.h"

enum he_context_kind {
	HE_CTX_USER,		/* made by evhappy_new(), freed by evhappy_free() */
	HE_CTX_PRIVATE		/* the drop-in's own: goes with its last race */
};

struct evhappy {
	struct he_owner owner;		/* what its requests see of it */
	struct he_resolver resolver;
	struct he_race_config race;
	struct he_settings set;
	struct he_https_conf https;	/* its requests read it live */
	struct he_synth_conf nat64;	/* so do they this */
	enum he_context_kind kind;
};

#endif
