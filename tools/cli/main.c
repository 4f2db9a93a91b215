/* tmprov: the operator CLI. main only finds the subcommand in the table and hands it the rest
 * of the command line; each subcommand parses its own flags and configuration. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "clicfg.h"

#ifndef TMPROV_VERSION
#define TMPROV_VERSION "unknown"
#endif

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct cli_cmd CLI_CMDS[] = {
    {"migrate", cmd_migrate, "apply the database migrations (or list them: --status)"},
    {"send", cmd_send, "send commands from a JSON Lines file (--wait for their outcomes)"},
    {"import", cmd_import, "onboard customers from a CSV file (account.create + user.upsert)"},
    {"status", cmd_status, "what the database knows of a command (ID) or a customer (--subject)"},
    {"replay", cmd_replay, "re-send failed-retryable or parked commands under new ids"},
    {"reconcile", cmd_reconcile, "compare every account with TM; --execute repairs the drift"},
    {"resolve", cmd_resolve,
     "end a parked create: --company-uid UID (found in TM) or --not-created"},
    {"events", cmd_events, "print outcome events (or DLQ copies) one line each; --follow"},
    {"held", cmd_held, "list the account deletions the mass-delete guard holds"},
    {"approve", cmd_approve, "release held deletions (ID or --all): they run, in order"},
    {"reject", cmd_reject, "end held deletions (ID or --all) as command.failed"},
};

static void
cli_usage(FILE *out)
{
	fprintf(out, "usage: tmprov [--help | --version] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(CLI_CMDS) / sizeof(CLI_CMDS[0]); i++)
		fprintf(out, "  %-10s %s\n", CLI_CMDS[i].name, CLI_CMDS[i].summary);
	fprintf(out, "\n`tmprov COMMAND --help` describes a command; `tmprov --help-config` lists "
		     "the settings of them all.\n"
		     "Exit status: 0 done, 1 failed, 2 usage or configuration error.\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		cli_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_usage(stdout);
		return CLI_OK;
	}
	if (strncmp(argv[1], "--help-config", 13) == 0)
		return clicfg_help_config(argc, argv);
	if (strcmp(argv[1], "--version") == 0) {
		printf("tmprov %s\n", TMPROV_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof(CLI_CMDS) / sizeof(CLI_CMDS[0]); i++)
		if (strcmp(argv[1], CLI_CMDS[i].name) == 0)
			return CLI_CMDS[i].run(argc - 1, argv + 1);
	fprintf(stderr, "tmprov: unknown command '%s'\n", argv[1]);
	cli_usage(stderr);
	return CLI_USAGE;
}
