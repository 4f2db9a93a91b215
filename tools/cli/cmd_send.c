/* cmd_send: `tmprov send FILE|-`: JSON Lines of commands, each checked as the worker will
 * check it, sent byte for byte keyed by subject; bad lines reported by number and skipped. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "clicfg.h"
#include "idmap.h"
#include "sender.h"
#include "validate.h"

static const char SEND_USAGE[] =
    "usage: tmprov send [--wait [--timeout D]] [--dry-run] [--binary] [--config FILE]\n"
    "                   [--print-config] FILE|-\n"
    "\n"
    "Sends the commands of FILE (JSON Lines: one CloudEvents command per line; - reads\n"
    "standard input) to TMPROV_TOPIC_COMMANDS, each keyed by its subject and byte for byte as\n"
    "written, so that sending a file again repeats the same ids and the worker does nothing\n"
    "twice. Each line is first checked as the worker checks it (schemas/command.schema.json);\n"
    "a bad line is reported with its number and not sent, the others are. Blank lines are\n"
    "skipped; a line repeating an earlier one is sent once. Commands go in CloudEvents\n"
    "structured mode (header content-type: application/cloudevents+json).\n"
    "\n"
    "  --wait          follow TMPROV_TOPIC_EVENTS until every command sent has its outcome,\n"
    "                  then print a summary: succeeded, failed and rejected, with reasons\n"
    "  --timeout D     stop waiting after D (e.g. 90s, 10m; default 5m)\n"
    "  --dry-run       check the file and report bad lines; send nothing\n"
    "  --binary        send in CloudEvents binary mode instead (for testing): each attribute\n"
    "                  as a ce_ header, datacontenttype as content-type, data as the value\n"
    "  --config FILE   KEY=value settings (the environment wins)\n"
    "  --print-config  print the effective settings, secrets masked, and exit\n"
    "  --help-config   print the settings as a table, and exit\n"
    "\n"
    "Exit status: 0 every line sent (with --wait: and every command succeeded), 1 otherwise,\n"
    "2 usage or configuration error.\n";

struct seen {
	long line;
	unsigned char sha[crypto_hash_sha256_BYTES];
};

/* One line into buf (without its LF, or CRLF). Returns 0, or -1 at the end of the input. A
 * line longer than cap - 1 is read to its end and *too_long set. */
static int
send_read_line(FILE *in, char *buf, size_t cap, size_t *len, bool *too_long)
{
	int c;

	*len = 0;
	*too_long = false;
	while ((c = getc(in)) != EOF && c != '\n') {
		if (*len < cap - 1)
			buf[(*len)++] = (char)c;
		else
			*too_long = true;
	}
	if (c == EOF && *len == 0 && !*too_long)
		return -1;
	if (*len > 0 && buf[*len - 1] == '\r' && !*too_long)
		(*len)--;
	buf[*len] = '\0';
	return 0;
}

static bool
send_blank(const char *s)
{
	return s[strspn(s, " \t\r")] == '\0';
}

static void
send_report(long line, enum validate_status st, const struct validate_errors *errs)
{
	fprintf(stderr, "line %ld: %s:", line, validate_status_name(st));
	for (size_t i = 0; i < errs->n; i++)
		fprintf(stderr, "%s %s", i ? ";" : "", errs->msg[i]);
	if (errs->more)
		fprintf(stderr, " (and %zu more)", errs->more);
	fprintf(stderr, "\n");
}

/* Whether the id was seen: a repeat of the same line is dropped quietly; the same id with
 * another body is a bad line (the worker would refuse it as an id conflict). 0 new, 1 repeat,
 * -1 bad, -2 out of memory. */
static int
send_seen(struct idmap *ids, const char *id, const char *body, size_t len, long line)
{
	struct seen *s = calloc(1, sizeof(*s)), *was;
	bool same;

	if (s == NULL)
		return -2;
	s->line = line;
	crypto_hash_sha256(s->sha, (const unsigned char *)body, len);
	was = idmap_get(ids, id);
	if (was == NULL) {
		if (idmap_put(ids, id, s) == 0)
			return 0;
		free(s);
		return -2;
	}
	same = memcmp(was->sha, s->sha, sizeof(s->sha)) == 0;
	free(s);
	if (same) {
		fprintf(stderr, "line %ld: repeats line %ld: sent once\n", line, was->line);
		return 1;
	}
	fprintf(stderr, "line %ld: id %s is already used on line %ld by a different command\n",
		line, id, was->line);
	return -1;
}

/* Reads, checks and (unless dry) sends every line. Returns the number of bad lines, or -1 on
 * a failure that stops everything. *good counts the commands sent or, dry, to send. */
static long
send_lines(FILE *in, struct sender *snd, long *good)
{
	static char buf[VALIDATE_MAX_BYTES + 2];
	struct idmap *ids = idmap_new();
	long line = 0, bad = 0;
	size_t len;
	bool too_long;
	char err[512], label[32];

	if (ids == NULL)
		return -1;
	while (send_read_line(in, buf, sizeof(buf), &len, &too_long) == 0) {
		struct validate_errors errs;
		struct command *cmd = NULL;
		enum validate_status st;
		int seen;

		line++;
		if (too_long) {
			fprintf(stderr, "line %ld: too_large: more than %d bytes\n", line,
				VALIDATE_MAX_BYTES);
			bad++;
			continue;
		}
		if (send_blank(buf))
			continue;
		st = command_parse(buf, len, &cmd, &errs);
		if (st != VALIDATE_OK) {
			send_report(line, st, &errs);
			bad++;
		} else if ((seen = send_seen(ids, cmd->id, buf, len, line)) == -2) {
			bad = -1;
		} else if (seen == -1) {
			bad++;
		} else if (seen == 0) {
			snprintf(label, sizeof(label), "line %ld", line);
			if (snd != NULL && sender_add(snd, cmd->id, cmd->subject, buf, len, label,
						      err, sizeof(err)) != 0) {
				fprintf(stderr, "line %ld: not sent: %s\n", line, err);
				bad++;
			} else {
				(*good)++;
			}
		}
		command_free(cmd);
		if (bad < 0)
			break;
	}
	idmap_free(ids, free);
	return bad;
}

int
cmd_send(int argc, char **argv)
{
	static const char name[] = "tmprov send";
	struct sender_opts o = {.timeout_ms = 300000, .binary_ok = true};
	struct sender *snd = NULL;
	struct cfg *cfg;
	FILE *in = NULL;
	long bad, good = 0;
	char err[512];
	int rc;

	if (clicfg_wants_help(argc, argv)) {
		fputs(SEND_USAGE, stdout);
		return CLI_OK;
	}
	cfg = clicfg_load(name, &argc, argv);
	if (cfg == NULL)
		return CLI_FAIL;
	rc = sender_flags(name, argc, argv, "one FILE (or - for standard input)", &o);
	if (rc != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	in = strcmp(o.file, "-") == 0 ? stdin : fopen(o.file, "r");
	if (in == NULL) {
		fprintf(stderr, "%s: %s: %m\n", name, o.file);
		goto out;
	}
	if (!o.dry_run) {
		clicfg_catch_signals();
		snd = sender_new(cfg, o.wait, err, sizeof(err));
		if (snd == NULL) {
			fprintf(stderr, "%s: %s\n", name, err);
			goto out;
		}
		if (o.binary)
			sender_binary(snd);
	}
	bad = send_lines(in, snd, &good);
	if (bad < 0) {
		fprintf(stderr, "%s: out of memory\n", name);
		goto out;
	}
	if (bad > 0)
		fprintf(stderr, "%ld bad line%s not sent\n", bad, bad == 1 ? "" : "s");
	if (o.dry_run) {
		printf("dry run: %ld command%s to send, %ld bad line%s; nothing sent\n", good,
		       good == 1 ? "" : "s", bad, bad == 1 ? "" : "s");
		rc = bad ? CLI_FAIL : CLI_OK;
		goto out;
	}
	rc = sender_finish(snd, o.timeout_ms, stdout) && bad == 0 ? CLI_OK : CLI_FAIL;
out:
	if (in != NULL && in != stdin)
		fclose(in);
	sender_free(snd);
	cfg_free(cfg);
	return rc;
}
