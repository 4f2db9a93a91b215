/* listq: meeting lists by the batch. A list request's connection is suspended and the request
 * queued; a few database threads each take what waits at that moment and read it all with one
 * statement (session_meetings), then resume the connections with their answers. */
#ifndef CALLBACK_LISTQ_H
#define CALLBACK_LISTQ_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "cb.h"
#include "request.h"

struct listq;

/* Writes rq's answer into rq->list_doc and rq->list_result, on a listq thread: its n rows of res
 * from row first (SESSION_COL_*), or failed (the database could not be asked; res NULL). */
typedef void (*listq_answer_fn)(struct request *rq, PGresult *res, int first, int n,
				bool failed);

/* threads: database threads, each with its own connection from cb->dbpool. NULL with err set. */
struct listq *listq_start(const struct cb *cb, unsigned threads, listq_answer_fn answer,
			  char *err, size_t errlen);
/* On the request's own libmicrohttpd thread, from its access handler: suspends the connection
 * and queues rq, whose rq->list_hash is set; a listq thread answers it and resumes the
 * connection (the handler is called again). 0, or -1 once stopping (nothing done). */
int listq_submit(struct listq *q, struct request *rq);
/* Refuses new requests, answers what is still queued as failed, ends the threads. Before
 * MHD_stop_daemon: no connection is left suspended. NULL is a no-op. */
void listq_stop(struct listq *q);

#endif
