/* dkcontrol: the fault control socket of tmprov-devkafka (see dkcontrol.h). One command per
 * connection, served on the main thread between signals: tests send a handful per run. */
#include "dkcontrol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define LINE_MAX_LEN  256
#define ERRORS_MAX    100000
#define CLIENT_WAIT_S 2 /* a client that sends nothing is dropped after this */

struct dkcontrol {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	rd_kafka_mock_cluster_t *mc;
};

struct dkcontrol *
dkcontrol_new(const char *path, rd_kafka_mock_cluster_t *mc, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct dkcontrol *c = NULL;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path longer than %zu bytes: %s",
			 sizeof(sa.sun_path) - 1, path);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->mc = mc;
	snprintf(c->path, sizeof(c->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(c->fd, 8) != 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		dkcontrol_free(c);
		return NULL;
	}
	return c;
}

int
dkcontrol_fd(const struct dkcontrol *c)
{
	return c->fd;
}

/* Pushes count errors err for apikey onto the cluster's error stack. */
static int
push_errors(rd_kafka_mock_cluster_t *mc, long apikey, long code, long count, char *msg,
	    size_t msglen)
{
	rd_kafka_resp_err_t *errs;

	if (apikey < 0 || apikey > 100 || count < 1 || count > ERRORS_MAX) {
		snprintf(msg, msglen, "error: APIKEY in [0, 100], COUNT in [1, %d]", ERRORS_MAX);
		return -1;
	}
	errs = calloc((size_t)count, sizeof(*errs));
	if (errs == NULL) {
		snprintf(msg, msglen, "error: out of memory");
		return -1;
	}
	for (long i = 0; i < count; i++)
		errs[i] = (rd_kafka_resp_err_t)code;
	rd_kafka_mock_push_request_errors_array(mc, (int16_t)apikey, (size_t)count, errs);
	free(errs);
	snprintf(msg, msglen, "ok");
	return 0;
}

/* Runs one command line; writes the answer into msg. */
static void
run(struct dkcontrol *c, const char *line, char *msg, size_t msglen)
{
	long apikey, code, count;
	rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
	char extra;

	if (strcmp(line, "down") == 0)
		rc = rd_kafka_mock_broker_set_down(c->mc, -1);
	else if (strcmp(line, "up") == 0)
		rc = rd_kafka_mock_broker_set_up(c->mc, -1);
	else if (sscanf(line, "errors %ld %ld %ld %c", &apikey, &code, &count, &extra) == 3) {
		push_errors(c->mc, apikey, code, count, msg, msglen);
		log_info("control: %s: %s", line, msg);
		return;
	} else {
		snprintf(msg, msglen, "error: unknown command (down, up, errors APIKEY ERR COUNT)");
		return;
	}
	if (rc)
		snprintf(msg, msglen, "error: %s", rd_kafka_err2str(rc));
	else
		snprintf(msg, msglen, "ok");
	log_info("control: %s: %s", line, msg);
}

void
dkcontrol_serve(struct dkcontrol *c)
{
	struct timeval tv = {.tv_sec = CLIENT_WAIT_S};
	char line[LINE_MAX_LEN], msg[LINE_MAX_LEN];
	ssize_t n, got = 0;
	int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < (ssize_t)sizeof(line) - 1 && !memchr(line, '\n', (size_t)got) &&
	       (n = read(fd, line + got, sizeof(line) - 1 - (size_t)got)) > 0)
		got += n;
	line[got] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	run(c, line, msg, sizeof(msg));
	strcat(msg, "\n");
	if (write(fd, msg, strlen(msg)) < 0)
		log_warn("control: answer not sent");
	close(fd);
}

void
dkcontrol_free(struct dkcontrol *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0) {
		close(c->fd);
		unlink(c->path);
	}
	free(c);
}
