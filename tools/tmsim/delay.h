/* delay: tmsim's held answers without a thread each — a timer thread that resumes a suspended
 * libmicrohttpd connection once its latency or hold has passed. */
#ifndef TMSIM_DELAY_H
#define TMSIM_DELAY_H

#include <stddef.h>

#include <microhttpd.h>

struct delay;

/* Starts the timer thread. NULL with err on failure. */
struct delay *delay_start(char *err, size_t errlen);

/* Resumes conn, which the caller has just suspended, in ms milliseconds; at once when the timer
 * is stopping. 0, or -1 when out of memory (conn is then resumed at once). */
int delay_add(struct delay *d, struct MHD_Connection *conn, long ms);

/* Resumes every connection still waiting and makes later delay_add calls resume at once; the
 * daemon then answers them, so that it can be stopped. */
void delay_release(struct delay *d);

/* Joins the thread (after delay_release) and frees d. NULL: nothing. */
void delay_free(struct delay *d);

#endif
