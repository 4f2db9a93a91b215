/* procstat: the process_* metrics Prometheus' client libraries export (start time, CPU, memory,
 * file descriptors), read from /proc/self at each scrape and rendered in the text format. */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The fields of /proc/self/stat we use (proc(5)). */
struct procstat {
	double cpu_seconds;   /* utime + stime */
	double start_seconds; /* after boot */
	double virtual_bytes;
	double resident_bytes;
};

/* /proc/self/stat: the fields after the command name, which is in parentheses and may hold
 * anything, so the scan starts after its last ')'. */
static int
read_stat(struct procstat *ps)
{
	char line[1024], *p;
	unsigned long utime, stime, vsize;
	unsigned long long start;
	long rss, ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/stat", "r");
	int rc = -1;

	if (f == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) == NULL || (p = strrchr(line, ')')) == NULL)
		goto out;
	/* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
	 * cutime cstime priority nice num_threads itrealvalue starttime vsize rss */
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
		   "%llu %lu %ld",
		   &utime, &stime, &start, &vsize, &rss) != 5 ||
	    ticks <= 0)
		goto out;
	ps->cpu_seconds = (double)(utime + stime) / (double)ticks;
	ps->start_seconds = (double)start / (double)ticks;
	ps->virtual_bytes = (double)vsize;
	ps->resident_bytes = (double)rss * (double)page;
	rc = 0;
out:
	fclose(f);
	return rc;
}

/* The boot time in seconds since the epoch (/proc/stat btime), -1 when unknown. */
static double
boot_time(void)
{
	char line[256];
	double btime = -1;
	FILE *f = fopen("/proc/stat", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "btime ", 6) == 0) {
			btime = strtod(line + 6, NULL);
			break;
		}
	}
	fclose(f);
	return btime;
}

/* Entries of /proc/self/fd without the directory's own descriptor; -1 when unknown. */
static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static int
family(struct buf *out, const char *name, const char *type, const char *help, double v)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n", name, help, name, type,
			  name, v);
}

int
procstat_render(struct buf *out)
{
	struct procstat ps;
	struct rlimit rl;
	double btime = boot_time();
	long fds = open_fds();
	int rc = 0;

	/* Names, types and help texts as the Go and Python client libraries give them. */
	if (read_stat(&ps) == 0) {
		rc |= family(out, "process_cpu_seconds_total", "counter",
			     "Total user and system CPU time spent in seconds.", ps.cpu_seconds);
		if (btime > 0)
			rc |= family(out, "process_start_time_seconds", "gauge",
				     "Start time of the process since unix epoch in seconds.",
				     btime + ps.start_seconds);
		rc |= family(out, "process_virtual_memory_bytes", "gauge",
			     "Virtual memory size in bytes.", ps.virtual_bytes);
		rc |= family(out, "process_resident_memory_bytes", "gauge",
			     "Resident memory size in bytes.", ps.resident_bytes);
	}
	if (fds >= 0)
		rc |= family(out, "process_open_fds", "gauge", "Number of open file descriptors.",
			     (double)fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		rc |= family(out, "process_max_fds", "gauge",
			     "Maximum number of open file descriptors.", (double)rl.rlim_cur);
	return rc;
}
