/* control: tmprov-devkafka's control socket (see control.h): one command per connection, read
 * and answered in the main thread, which otherwise only waits for signals. */
#include "control.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mockfault.h"
#include "log.h"

#define CONTROL_LINE_MAX 1024
#define CONTROL_READ_MS	 2000

int
control_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long (max %zu): %s",
			 sizeof(sa.sun_path) - 1, path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads up to the first newline (or EOF) into line; 0, or -1 on error, timeout or overflow. */
static int
read_command(int fd, char *line, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, CONTROL_READ_MS) <= 0)
			return -1;
		r = read(fd, line + n, len - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		line[n + (size_t)r] = '\0';
		if (r == 0 || memchr(line + n, '\n', (size_t)r))
			return 0;
		n += (size_t)r;
	}
	return -1;
}

void
control_serve(int lfd, rd_kafka_mock_cluster_t *mc)
{
	char line[CONTROL_LINE_MAX], err[256], answer[300];
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	int n;

	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN)
			log_warn("control: accept: %s", strerror(errno));
		return;
	}
	if (read_command(fd, line, sizeof(line)) != 0) {
		log_warn("control: no complete command within %d ms", CONTROL_READ_MS);
		goto out;
	}
	line[strcspn(line, "\r\n")] = '\0';
	if (mockfault_apply(mc, line, err, sizeof(err)) == 0) {
		log_info("control: %s", line);
		n = snprintf(answer, sizeof(answer), "ok\n");
	} else {
		log_warn("control: %s: %s", line, err);
		n = snprintf(answer, sizeof(answer), "error: %s\n", err);
	}
	if (write(fd, answer, (size_t)n) != n)
		log_warn("control: answer not sent: %s", strerror(errno));
out:
	close(fd);
}
