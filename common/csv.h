/* csv: reads RFC 4180 records from a stream — quoted fields with "" escapes and line breaks
 * inside quotes, CRLF or LF line ends, a UTF-8 byte order mark skipped — each record knowing the
 * line it starts on, with a bound on every record. A malformed record is reported and skipped,
 * so that a caller can report every bad line of a file in one pass. */
#ifndef TMPROV_CSV_H
#define TMPROV_CSV_H

#include <stddef.h>
#include <stdio.h>

#define CSV_MAX_RECORD 65536 /* bytes of field text in one record */
#define CSV_MAX_FIELDS 64

enum csv_status {
	CSV_RECORD = 1,	       /* a record is ready: csv_nfields, csv_field */
	CSV_EOF = 0,	       /* no more records */
	CSV_BAD = -1,	       /* a malformed record (err says why); it was skipped */
	CSV_TOO_LARGE = -2,    /* a record over CSV_MAX_RECORD bytes or CSV_MAX_FIELDS fields */
	CSV_UNTERMINATED = -3, /* a quoted field still open at the end of the input */
	CSV_IO = -4,	       /* a read error */
};

struct csv_reader;

/* Reads from in, which stays the caller's. NULL when out of memory. */
struct csv_reader *csv_reader_new(FILE *in);
void csv_reader_free(struct csv_reader *r);

/* The next record. Lines holding nothing at all are skipped (a record of one empty field
 * would mean nothing in a table). On CSV_BAD and CSV_TOO_LARGE the rest of the record is read
 * and dropped, so the following call reads the next one; err names the problem, and
 * csv_line() the line the record started on. */
int csv_next(struct csv_reader *r, char *err, size_t errlen);

/* The fields of the current record; valid until the next csv_next. */
size_t csv_nfields(const struct csv_reader *r);
const char *csv_field(const struct csv_reader *r, size_t i);
/* 1-based line on which the current (or last failed) record starts. */
long csv_line(const struct csv_reader *r);

#endif
