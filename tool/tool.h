/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tool.h - the uwal(1) command: what its subcommands share (common.c):
 * option parsing, opening a log read-only with its diagnostics captured,
 * words for errors, and writing bytes as text, hex or JSON. Only the
 * public API (uwal.h) is used.
 *
 * Exit statuses: UW_TOOL_OK, UW_TOOL_FAIL (damage found, or the operation
 * failed), UW_TOOL_USAGE.
 */
#ifndef UWAL_TOOL_H
#define UWAL_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uwal.h>

enum { UW_TOOL_OK = 0, UW_TOOL_FAIL = 1, UW_TOOL_USAGE = 2 };

/* The subcommands: argv[0] is the subcommand's name. */
int uw_tool_stat(int argc, char **argv);
int uw_tool_dump(int argc, char **argv);
int uw_tool_verify(int argc, char **argv);
int uw_tool_recover(int argc, char **argv);
int uw_tool_tail(int argc, char **argv);
int uw_tool_truncate(int argc, char **argv);

/* What stat, verify and recover take: [--prefix P] [--json] [--help] DIR,
 * and recover's --dry-run (-n) when dry is not NULL. */
struct uw_tool_args {
	const char *prefix; /* default "segment_" */
	const char *dir;
	bool json;
};
/* Parse them; -1 to go on, else the exit status (--help, a usage error:
 * help is printed to stdout or stderr). */
int uw_tool_args(int argc, char **argv, const char *help, struct uw_tool_args *a, bool *dry);

/* The options of the subcommands that parse their own (dump, tail,
 * truncate) share: --prefix, --json, --help, and the record printer's
 * --format and --keys-only. Put the macros in the getopt_long table. */
#define UW_TOOL_OPT_FORMAT 0x100
#define UW_TOOL_OPT_KEYS 0x101
#define UW_TOOL_SHARED_OPTS                                                                        \
	{"prefix", required_argument, NULL, 'p'}, {"json", no_argument, NULL, 'j'},                \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}
#define UW_TOOL_RECORD_OPTS                                                                        \
	{"format", required_argument, NULL, UW_TOOL_OPT_FORMAT},                                   \
	{                                                                                          \
		"keys-only", no_argument, NULL, UW_TOOL_OPT_KEYS                                   \
	}
enum uw_tool_fmt { UW_FMT_TEXT, UW_FMT_HEX, UW_FMT_JSON };
struct uw_tool_opts {
	const char *prefix; /* default "segment_" */
	bool json;          /* --json; also sets fmt */
	enum uw_tool_fmt fmt;
	bool keys_only;
};
/* Take getopt_long's answer c (with optarg) if it is a shared option:
 * -1 taken, -2 not shared (the caller's own), or the exit status
 * (--help; a bad --format, or an unknown option, is a usage error). */
int uw_tool_opt(const char *cmd, int c, const char *help, struct uw_tool_opts *o);
/* After the options: the one DIR operand into *dir; -1, or UW_TOOL_USAGE
 * (the help printed on stderr). */
int uw_tool_dir_arg(int argc, char **argv, const char *help, const char **dir);

/* Diagnostics of uwal calls (log_fn), kept in order (the first ones, if
 * there are very many). */
#define UW_TOOL_LOG_MAX 64
struct uw_tool_log {
	size_t n, dropped;
	int level[UW_TOOL_LOG_MAX];
	char *msg[UW_TOOL_LOG_MAX];
};
void uw_tool_log_fn(void *ctx, int level, const char *msg);
void uw_tool_log_free(struct uw_tool_log *l);

/* Open dir read-only (UWAL_OPEN_READONLY | extra flags), diagnostics into
 * log. 0 or the error of uwal_open(). */
int uw_tool_open(const char *dir, const char *prefix, unsigned extra, struct uw_tool_log *log,
		 uwal **out);

/* The same with cfg.open_flags = flags (0: a normal open, which takes the
 * lock and may repair a torn tail). */
int uw_tool_open_flags(const char *dir, const char *prefix, unsigned flags, struct uw_tool_log *log,
		       uwal **out);

/* An error of a uwal call in words ("the log is open in another process
 * (UWAL_ELOCKED)", "no such directory (ENOENT)"), into buf. */
const char *uw_tool_explain(int err, char *buf, size_t n);
/* The name of an error code: "UWAL_ECORRUPT", "ENOENT", ... */
const char *uw_tool_errname(int err);

/* Parse a decimal uint64; false if s is not one. */
bool uw_tool_parse_u64(const char *s, uint64_t *out);

/* Bytes as text (printable ASCII, others and '\\' as \xNN), as hex. */
void uw_tool_put_text(FILE *f, const void *p, size_t len);
void uw_tool_put_hex(FILE *f, const void *p, size_t len);
/* A JSON string of s (NUL-terminated), quotes included. */
void uw_tool_put_json_str(FILE *f, const char *s);
/* "name":"<bytes>" when they are UTF-8, else "name_hex":"<hex>". */
void uw_tool_put_json_bytes(FILE *f, const char *name, const void *p, size_t len);

/* --format's argument; false (said on stderr as "uwal CMD: ...") if it is
 * none of text, hex, json. */
bool uw_tool_parse_format(const char *cmd, const char *s, enum uw_tool_fmt *out);
/* One record as a line: INDEX SEGMENT OFFSET KEY [VALUE], tab-separated,
 * key and value as text or hex; or one JSON object. */
void uw_tool_put_record(FILE *f, enum uw_tool_fmt fmt, bool keys_only, const uwal_record *r,
			uint64_t seq, uint64_t off);

/* A progress line on stderr for long runs (dump, verify), only when stderr
 * is a terminal and, for a command that prints as it goes (streams), stdout
 * is not one (the records are their own progress there): "uwal CMD: N
 * records, X of Y MiB (P%)", from the first second on, redrawn at most five
 * times a second, erased by uw_tool_progress_end(). */
struct uw_tool_progress {
	bool on, shown;
	const char *cmd;
	uint64_t total, bytes, records, next_ns;
};
void uw_tool_progress_start(struct uw_tool_progress *p, const char *cmd, uint64_t total_bytes,
			    bool streams);
/* One record read (its frame's size counted with uwal_record_size()). */
void uw_tool_progress_step(struct uw_tool_progress *p, const uwal_record *r);
void uw_tool_progress_end(struct uw_tool_progress *p);

/* Where a diagnostic says the damage is: the file name after "dir/" and
 * the number after "at offset "; false for what it does not say. */
bool uw_tool_msg_file(const char *msg, const char *dir, char *name, size_t n);
bool uw_tool_msg_offset(const char *msg, uint64_t *off);
/* The diagnostics as a JSON array of {level, message, file, offset}. */
void uw_tool_put_json_log(FILE *f, const struct uw_tool_log *log, const char *dir);

/* One element of a recover report, as JSON and as a line of text. */
void uw_tool_put_json_action(FILE *f, const uwal_segment_info *e);
void uw_tool_put_action(FILE *f, const uwal_segment_info *e, bool dry);
/* What a recover report adds up to: files removed and cut, the records
 * lost as far as the files count them, and the cuts whose losses they do
 * not count. */
struct uw_tool_totals {
	uint64_t removed, cut, lost, unknown;
};
void uw_tool_action_totals(const uwal_segment_info *v, size_t n, struct uw_tool_totals *t);

/* Report a failure and return UW_TOOL_FAIL: on stderr (the diagnostics,
 * then "uwal CMD: DIR: message"), or with json a JSON object on stdout
 * {dir, ok: false, error: code, message, diagnostics}. */
int uw_tool_fail(bool json, const char *cmd, const char *dir, const char *code, const char *message,
		 const struct uw_tool_log *log);
/* The same for an error code of a uwal call. */
int uw_tool_fail_err(bool json, const char *cmd, const char *dir, int err,
		     const struct uw_tool_log *log);
/* The same for a directory without segment files (code "not_a_log"). */
int uw_tool_not_a_log(bool json, const char *cmd, const char *dir, const char *prefix);

#endif
