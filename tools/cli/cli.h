/* cli: what the subcommands of the operator CLI (bin/tmprov) share: their entry points and the
 * exit codes every one of them keeps to. */
#ifndef TMPROV_CLI_H
#define TMPROV_CLI_H

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* argv[0] is the subcommand's name; returns the process exit code. */
int cmd_migrate(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_reconcile(int argc, char **argv);
int cmd_resolve(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_held(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_reject(int argc, char **argv);

#endif
