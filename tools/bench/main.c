/* tmprov-bench: the load generator behind `make bench` (tools/bench/bench.sh); main only answers
 * --version, lets a fatal signal take the children along, and hands the command line to the
 * scenario runner. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "bench_proc.h"

#ifndef TMPROV_VERSION
#define TMPROV_VERSION "unknown"
#endif

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("tmprov-bench %s\n", TMPROV_VERSION);
		return BENCH_EXIT_OK;
	}
	bench_proc_handle_signals();
	return bench_run(argc, argv);
}
