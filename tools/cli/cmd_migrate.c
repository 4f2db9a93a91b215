/* cmd_migrate: `tmprov migrate`, the operator's front to the migrate module: flags and
 * configuration in, one line per migration out, exit 0 / 1 / 2. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cfgkeys.h"
#include "cli.h"
#include "clicfg.h"
#include "config.h"
#include "db.h"
#include "migrate.h"

static const char MIGRATE_USAGE[] =
    "usage: tmprov migrate [--dir DIR] [--dry-run | --status] [--config FILE] "
    "[--print-config]\n"
    "\n"
    "Applies the pending NNN_name.sql files of DIR to TMPROV_DATABASE_URL in numeric order,\n"
    "each in its own transaction, and records them in schema_migrations. Concurrent runs take\n"
    "turns. Refuses to run when an applied file was changed or removed.\n"
    "\n"
    "  --dir DIR       migrations directory (default: TMPROV_MIGRATIONS_DIR)\n"
    "  --dry-run       check, and list what would be applied, without applying it\n"
    "  --status        check, and list every migration as applied or pending\n"
    "  --config FILE   KEY=value settings (the environment wins)\n"
    "  --print-config  print the effective settings, secrets masked, and exit\n"
    "  --help-config   print the settings as a table, and exit\n"
    "\n"
    "Exit status: 0 done, 1 failed (the message names the file), 2 usage error.\n";

static bool
migrate_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static int
migrate_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "tmprov migrate: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(tmprov migrate --help describes the options)\n");
	return CLI_USAGE;
}

/* Parses the subcommand's own flags (the configuration ones are gone by now). */
static int
migrate_parse_flags(int argc, char **argv, struct migrate_opts *o)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"status", no_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	opterr = 0; /* our own message, with the usage */
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->dir = optarg;
			break;
		case 'n':
		case 's':
			if (o->mode != MIGRATE_APPLY)
				return migrate_usage_error("%s",
							   "--dry-run and --status exclude each "
							   "other");
			o->mode = ch == 'n' ? MIGRATE_DRY_RUN : MIGRATE_STATUS;
			break;
		case ':':
			return migrate_usage_error("%s needs a value", argv[optind - 1]);
		default:
			return migrate_usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return migrate_usage_error("unexpected argument %s", argv[optind]);
	return CLI_OK;
}

int
cmd_migrate(int argc, char **argv)
{
	static char name[] = "tmprov migrate";
	struct migrate_opts o = {.mode = MIGRATE_APPLY, .out = stdout};
	struct migrate_report rep;
	struct db_options dbo;
	struct cfg *cfg;
	char err[1024];
	int rc;

	if (migrate_wants_help(argc, argv)) {
		fputs(MIGRATE_USAGE, stdout);
		return CLI_OK;
	}
	cfg = clicfg_new(CLICFG_MIGRATE);
	if (cfg == NULL) {
		fprintf(stderr, "%s: out of memory\n", name);
		return CLI_FAIL;
	}
	argv[0] = name; /* configuration errors are reported under this name */
	argc = cfg_from_args(cfg, argc, argv);
	o.dir = cfg_str(cfg, &KEY_TMPROV_MIGRATIONS_DIR);
	rc = migrate_parse_flags(argc, argv, &o);
	if (rc != CLI_OK)
		goto out;
	o.conninfo = cfg_str(cfg, &KEY_TMPROV_DATABASE_URL);
	db_options_from_cfg(&dbo, cfg, "tmprov-migrate");
	o.db = &dbo;
	if (migrate_run(&o, &rep, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		rc = CLI_FAIL;
		goto out;
	}
	if (o.mode == MIGRATE_APPLY)
		printf("%zu applied now; all %zu migrations in place\n", rep.applied, rep.files);
	else
		printf("%zu pending of %zu migrations\n", rep.pending, rep.files);
out:
	cfg_free(cfg);
	return rc;
}
