/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - uwal(1): operate a uwal log from the shell. One program, one
 * subcommand per job (stat, dump, verify, recover, truncate, tail), each in its own file;
 * this file picks the subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "tool.h"

static const struct {
	const char *name;
	int (*run)(int, char **);
	const char *what;
} commands[] = {
	{"stat", uw_tool_stat, "describe the segments of a log, its gaps, its lock"},
	{"dump", uw_tool_dump, "print records in log order"},
	{"verify", uw_tool_verify, "read every frame and check every CRC, changing nothing"},
	{"recover", uw_tool_recover, "remove damaged segments so that the log opens (unsafe)"},
	{"truncate", uw_tool_truncate, "remove the records before or from an index"},
	{"tail", uw_tool_tail, "print records in log order; -f: and new ones as they come"},
};

static int usage(FILE *f, int status)
{
	fprintf(f, "usage: uwal COMMAND [OPTIONS] DIR\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].what);
	fprintf(f, "\n'uwal COMMAND --help' describes a command; 'man 1 uwal' all of them.\n"
		   "Exit status: 0 ok, 1 damage found or the operation failed, 2 usage.\n");
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, UW_TOOL_USAGE);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return usage(stdout, UW_TOOL_OK);
	if (!strcmp(argv[1], "--version")) {
		printf("uwal %s\n", UWAL_VERSION_STRING);
		return UW_TOOL_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "uwal: unknown command '%s'\n", argv[1]);
	return usage(stderr, UW_TOOL_USAGE);
}
