/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_fork.c - handles and fork(2) (uwal.h, "fork(2)"): in a child every
 * call on a handle opened before the fork returns UWAL_EFORKED at once and
 * uwal_close() frees the copy; the child does not keep the lock, so the
 * parent can close and reopen the log while the child lives; the child may
 * open the log read-only but not take it; the parent's handle is unharmed;
 * every descriptor a handle opens is close-on-exec, so an exec'd child
 * holds none of them.
 *
 * A child never returns into the test runner: it reports through its exit
 * status (0: every check held; otherwise the number of the failed check),
 * and an alarm() bounds it, so a hang fails the test instead of hanging it.
 * No child starts a thread (a refused open and a read-only open start
 * none), which TSan forbids after a multi-threaded fork.
 */
#include "helpers.h"

#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>

extern char **environ;

TH_SUITE(fork, 60);

#define CHILD_ALARM_S 20

/* The check a child is at, for the report of one that hung: its alarm
 * exits with 100 + that number (0: before the first check). */
static volatile sig_atomic_t child_step;

static void on_child_alarm(int sig)
{
	(void)sig;
	_exit(100 + child_step);
}

static void child_alarm(void)
{
	signal(SIGALRM, on_child_alarm);
	alarm(CHILD_ALARM_S);
}

static void config(uwal_config *cfg)
{
	th_config(cfg, g_dir);
	cfg->segment_size = 64u << 10; /* rotations with a few records */
}

/* Wait for pid up to timeout_ms; kill it if it is still running. Returns
 * its wait status; fails the test if it had to be killed. */
static int wait_child(pid_t pid, int timeout_ms)
{
	int st = 0;
	for (int i = 0; i < timeout_ms; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		cr_assert_neq(r, -1, "waitpid: %s", strerror(errno));
		if (r == pid)
			return st;
		th_sleep_ms(1);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_assert_fail("child %d still ran after %d ms (killed)", (int)pid, timeout_ms);
	return st;
}

/* Assert that the child exited with 0; else say which check failed. */
static void child_ok(int st, const char *what)
{
	cr_assert(WIFEXITED(st), "%s: child killed by signal %d", what,
		  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	cr_assert(WEXITSTATUS(st) < 100, "%s: child hung (%d s) after check %d", what,
		  CHILD_ALARM_S, WEXITSTATUS(st) - 100);
	cr_assert_eq(WEXITSTATUS(st), 0, "%s: child check %d failed", what, WEXITSTATUS(st));
}

#define CHILD_CHECK(n, cond)                                                                       \
	do {                                                                                       \
		child_step = (n);                                                                  \
		if (!(cond))                                                                       \
			_exit(n);                                                                  \
	} while (0)

/* An iterator the parent has open at the fork, if any. */
static uwal_iter *parent_it;

/* Every entry point on a forked handle: UWAL_EFORKED (or 0 for the index
 * queries), then uwal_close(): UWAL_EFORKED. Exits the child. */
static void child_calls(uwal *w, bool readonly, bool check_leaks)
{
	child_alarm();
	char key[TH_KEY_MAX];
	size_t kl = th_key(1, key);
	uwal_record rec1 = {.index = 1003, .key = key, .key_len = kl};
	if (!readonly) {
		CHILD_CHECK(1, uwal_write(w, 1000, key, kl, "v", 1) == UWAL_EFORKED);
		CHILD_CHECK(2, uwal_write_sync(w, 1001, key, kl, "v", 1, true) == UWAL_EFORKED);
		uwal_record rec = {.index = 1002, .key = key, .key_len = kl};
		CHILD_CHECK(3, uwal_write_batch(w, &rec, 1, false) == UWAL_EFORKED);
		CHILD_CHECK(4, uwal_truncate_front(w, 2) == UWAL_EFORKED);
		CHILD_CHECK(5, uwal_truncate_back(w, 2) == UWAL_EFORKED);
	}
	uwal_record r;
	CHILD_CHECK(6, uwal_get(w, 1, &r) == UWAL_EFORKED);
	char buf[512];
	CHILD_CHECK(7, uwal_get_into(w, 1, buf, sizeof(buf), &r) == UWAL_EFORKED);
	CHILD_CHECK(8, uwal_first_index(w) == 0);
	CHILD_CHECK(9, uwal_last_index(w) == 0);
	uwal_stats st;
	CHILD_CHECK(10, uwal_stats_get(w, &st) == UWAL_EFORKED);
	uwal_segment_info *segs = NULL;
	size_t n = 0;
	CHILD_CHECK(11, uwal_segments(w, &segs, &n) == UWAL_EFORKED);
	CHILD_CHECK(12, uwal_health(w) == UWAL_EFORKED);
	uwal_iter *it = NULL;
	CHILD_CHECK(13, uwal_iter_open(w, &it) == UWAL_EFORKED);
	CHILD_CHECK(15, uwal_iter_open_at(w, 0, 0, &it) == UWAL_EFORKED);
	if (!readonly) {
		uwal_completion c;
		CHILD_CHECK(16, uwal_submit(w, &rec1, 1, 0, 0) == UWAL_EFORKED);
		CHILD_CHECK(17, uwal_reap(w, &c, 1, -1) == UWAL_EFORKED);
		CHILD_CHECK(18, uwal_event_fd(w) == UWAL_EFORKED);
		CHILD_CHECK(19, uwal_sync(w) == UWAL_EFORKED);
		CHILD_CHECK(20, uwal_shutdown(w) == UWAL_EFORKED);
		CHILD_CHECK(21, uwal_append(w, key, kl, "v", 1, false, NULL) == UWAL_EFORKED);
	}
	/* An iterator the parent had open: its calls fail, its close frees
	 * only its own memory. */
	if (parent_it) {
		CHILD_CHECK(22, uwal_iter_next(parent_it, &r) == UWAL_EFORKED);
		CHILD_CHECK(23, uwal_iter_wait(parent_it, 0) == UWAL_EFORKED);
		uwal_iter_close(parent_it);
	}
	CHILD_CHECK(14, uwal_close(w) == UWAL_EFORKED);
#ifdef __SANITIZE_ADDRESS__
	/* The copy was freed (a writer busy at the fork may leave its
	 * buffers, which is not checked here). */
	CHILD_CHECK(15, !check_leaks || __lsan_do_recoverable_leak_check() == 0);
#else
	(void)check_leaks;
#endif
	_exit(0);
}

/* Fork a child that runs child_calls() on w; wait for it. */
static void fork_child_calls(uwal *w, bool readonly, bool check_leaks, const char *what)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		child_calls(w, readonly, check_leaks);
	child_ok(wait_child(pid, 30000), what);
}

static void write_range(uwal *w, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i <= to; i++)
		cr_assert_eq(th_write_std(w, i, false), 0, "write %llu", (unsigned long long)i);
}

/* Open the log of config() into *cfg, with records 1..n written. */
static uwal *open_written(uwal_config *cfg, uint64_t n)
{
	config(cfg);
	uwal *w = th_open(cfg);
	write_range(w, 1, n);
	return w;
}

static void check_range(uwal *w, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i <= to; i++)
		th_check_std(w, i);
	cr_assert_eq(uwal_first_index(w), from);
	cr_assert_eq(uwal_last_index(w), to);
}

/* Guards against a child of fork() hanging on (or corrupting through) its
 * copy of a handle: every call returns UWAL_EFORKED at once, the close
 * frees it without I/O, and the parent's handle goes on unharmed. */
TH_TEST(fork, child_calls_return_eforked_and_the_parent_goes_on)
{
	uwal_config cfg;
	uwal *w = open_written(&cfg, 100); /* a few segments */
	/* A writer asleep at the fork leaves nothing half done: the child
	 * frees all of its copy, which the child's leak check then sees. */
	cr_assert(tio_wait_ring_idle(5000), "the writer never went to sleep");
	cr_assert_eq(uwal_iter_open_at(w, 50, UWAL_ITER_FOLLOW, &parent_it), 0);
	fork_child_calls(w, false, true, "forked handle");
	/* The parent's iterator is untouched by the child's close of it. */
	uwal_record rec;
	cr_assert_eq(uwal_iter_next(parent_it, &rec), 1);
	cr_assert_eq(rec.index, 50);
	uwal_iter_close(parent_it);
	parent_it = NULL;
	/* the parent's handle: writes, reads, truncation after the fork */
	write_range(w, 101, 200);
	check_range(w, 1, 200);
	cr_assert_eq(uwal_truncate_front(w, 11), 0);
	check_range(w, 11, 200);
	cr_assert_eq(uwal_health(w), 0);
	th_close(w);
	w = th_open(&cfg);
	check_range(w, 11, 200);
	th_close(w);
}

/* The same for a read-only handle (writes return UWAL_EREADONLY there
 * before anything else, so only the others are checked). */
TH_TEST(fork, child_calls_on_a_read_only_handle_return_eforked)
{
	uwal_config cfg;
	uwal *w = open_written(&cfg, 50);
	cfg.open_flags = UWAL_OPEN_READONLY;
	uwal *ro = th_open(&cfg);
	fork_child_calls(ro, true, true, "forked read-only handle");
	check_range(ro, 1, 50);
	th_close(ro);
	th_close(w);
}

static int read_byte(int fd)
{
	unsigned char c;
	ssize_t n;
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? c : -1;
}

/* Guards against a child keeping the parent's lock: while the child lives
 * (blocked on a pipe), the parent closes the log and opens it again. */
TH_TEST(fork, parent_reopens_while_the_child_lives)
{
	uwal_config cfg;
	uwal *w = open_written(&cfg, 20);
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		child_alarm();
		close(go[1]);
		CHILD_CHECK(1, read_byte(go[0]) == 'x');
		CHILD_CHECK(2, uwal_close(w) == UWAL_EFORKED);
		_exit(0);
	}
	close(go[0]);
	th_close(w);
	uwal *w2 = NULL;
	int rc = uwal_open(&cfg, &w2);
	cr_assert_eq(rc, 0, "reopen while the child lives: %d %s", rc, uwal_strerror(rc));
	cr_assert_eq(uwal_locked(g_dir, NULL), 1);
	write_range(w2, 21, 40);
	check_range(w2, 1, 40);
	cr_assert_eq(write(go[1], "x", 1), 1);
	close(go[1]);
	child_ok(wait_child(pid, 30000), "child blocked on a pipe");
	th_close(w2);
	cr_assert_eq(uwal_locked(g_dir, NULL), 0);
}

/* Guards the child's own opens: the log is the parent's (UWAL_ELOCKED),
 * but a read-only open works and sees what the parent wrote. */
TH_TEST(fork, child_opens_read_only_but_cannot_take_the_log)
{
	uwal_config cfg;
	uwal *w = open_written(&cfg, 30);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		child_alarm();
		uwal *mine = NULL;
		CHILD_CHECK(1, uwal_open(&cfg, &mine) == UWAL_ELOCKED);
		CHILD_CHECK(2, mine == NULL);
		uwal_config ro = cfg;
		ro.open_flags = UWAL_OPEN_READONLY;
		CHILD_CHECK(3, uwal_open(&ro, &mine) == 0);
		CHILD_CHECK(4, uwal_first_index(mine) == 1 && uwal_last_index(mine) == 30);
		for (uint64_t i = 1; i <= 30; i++) {
			uwal_record r;
			CHILD_CHECK(5, uwal_get(mine, i, &r) == 0);
			CHILD_CHECK(6, r.index == i && r.value_len == th_vlen(i));
			uwal_record_free(&r);
		}
		CHILD_CHECK(7, uwal_close(mine) == 0);
		CHILD_CHECK(8, uwal_close(w) == UWAL_EFORKED);
		_exit(0);
	}
	child_ok(wait_child(pid, 30000), "child's own opens");
	write_range(w, 31, 40);
	th_close(w);
	w = th_open(&cfg);
	check_range(w, 1, 40);
	th_close(w);
}

/* Writers keep writing: several forks land while the writer is busy. */
struct busy {
	uwal *w;
	uint64_t base;
	_Atomic int stop;
	uint64_t done;
	int rc;
};

static void *busy_writer(void *arg)
{
	struct busy *b = arg;
	while (!atomic_load(&b->stop)) {
		int rc = th_write_std(b->w, b->base + b->done + 1, false);
		if (rc != 0) {
			b->rc = rc;
			break;
		}
		b->done++;
	}
	return NULL;
}

/* Guards the child's close against what the parent's threads were doing
 * at the fork (a batch in flight, a rotation, a reader): it must neither
 * hang nor crash, and the parent must not notice. */
TH_TEST(fork, forks_while_writers_are_busy)
{
	uwal_config cfg;
	config(&cfg);
	uwal *w = th_open(&cfg);
	struct busy b[2] = {{.w = w, .base = 0}, {.w = w, .base = 1u << 30}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, busy_writer, &b[i]), 0);
	for (int k = 0; k < 20; k++) {
		th_sleep_ms(2);
		fork_child_calls(w, false, false, "fork while writing");
	}
	for (int i = 0; i < 2; i++) {
		atomic_store(&b[i].stop, 1);
		pthread_join(t[i], NULL);
		cr_assert_eq(b[i].rc, 0, "writer %d: %d %s", i, b[i].rc, uwal_strerror(b[i].rc));
		cr_assert_gt(b[i].done, 0);
	}
	th_close(w);
	w = th_open(&cfg);
	for (int i = 0; i < 2; i++)
		for (uint64_t k = 1; k <= b[i].done; k++)
			th_check_std(w, b[i].base + k);
	th_close(w);
}

/* ---- descriptors ---------------------------------------------------------- */

#define MAX_FDS 1024

/* The open descriptors of this process (the listing's own excluded). */
static size_t list_fds(bool *open)
{
	memset(open, 0, MAX_FDS * sizeof(*open));
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	int self = dirfd(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == self || fd < 0 || fd >= MAX_FDS)
			continue;
		open[fd] = true;
		n++;
	}
	closedir(d);
	return n;
}

/* Assert that every descriptor open now and not in before is close-on-exec;
 * returns how many there are. */
static unsigned check_new_fds_cloexec(const bool *before)
{
	static bool now[MAX_FDS];
	list_fds(now);
	unsigned n = 0;
	for (int fd = 0; fd < MAX_FDS; fd++) {
		if (!now[fd] || before[fd])
			continue;
		char link[64], target[4096];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t l = readlink(link, target, sizeof(target) - 1);
		target[l > 0 ? l : 0] = '\0';
		int flags = fcntl(fd, F_GETFD);
		cr_assert_geq(flags, 0, "fd %d (%s): %s", fd, target, strerror(errno));
		cr_assert(flags & FD_CLOEXEC, "fd %d (%s) is not close-on-exec", fd, target);
		n++;
	}
	return n;
}

/* Guards against a descriptor of a handle leaking into exec'd programs:
 * the directory, the lock file, the segments (active, prepared, cached
 * sealed ones), the eventfd and the ring are all close-on-exec. */
TH_TEST(fork, every_descriptor_is_close_on_exec)
{
	static bool before[MAX_FDS];
	list_fds(before);
	uwal_config cfg;
	uwal *w = open_written(&cfg, 200); /* rotations: sealed, active and prepared segments */
	for (uint64_t i = 1; i <= 200; i += 20)
		th_check_std(w, i); /* sealed segments' descriptors in the cache */
	uwal_iter *it;
	cr_assert_eq(uwal_iter_open(w, &it), 0);
	uwal_record r;
	cr_assert_eq(uwal_iter_next(it, &r), 1);
	cfg.open_flags = UWAL_OPEN_READONLY;
	uwal *ro = th_open(&cfg);
	th_check_std(ro, 1);
	unsigned n = check_new_fds_cloexec(before);
	cr_assert_geq(n, 5, "only %u new descriptors: the check saw too little", n);
	uwal_iter_close(it);
	th_close(ro);
	th_close(w);
}

/* The descriptors of pid that refer to files under g_dir. */
static unsigned fds_into_log(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char link[384], target[4096];
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		ssize_t l = readlink(link, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = '\0';
		n += strncmp(target, g_dir, strlen(g_dir)) == 0;
	}
	closedir(d);
	return n;
}

/* Whether pid runs the program at exe now (it exec'd). */
static bool runs(pid_t pid, const char *exe)
{
	char link[64], target[4096], want[4096];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	ssize_t l = readlink(link, target, sizeof(target) - 1);
	if (l <= 0 || !realpath(exe, want))
		return false;
	target[l] = '\0';
	return strcmp(target, want) == 0;
}

/* After the exec'd child runs: it holds nothing of the log, and the parent
 * closes and reopens the log while it sleeps. */
static void exec_child_checks(uwal *w, const uwal_config *cfg, pid_t pid)
{
	bool ok = false;
	for (int i = 0; i < 5000 && !(ok = runs(pid, "/bin/sleep")); i++)
		th_sleep_ms(1);
	cr_assert(ok, "the child never exec'd /bin/sleep");
	cr_assert_eq(fds_into_log(pid), 0, "the exec'd child holds descriptors of the log");
	th_close(w);
	uwal *w2 = NULL;
	int rc = uwal_open(cfg, &w2);
	cr_assert_eq(rc, 0, "reopen while the exec'd child runs: %d %s", rc, uwal_strerror(rc));
	check_range(w2, 1, 20);
	th_close(w2);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
}

/* Guards against an exec'd child holding the lock (or any descriptor of
 * the log): fork + exec. */
TH_TEST(fork, exec_after_fork_holds_no_descriptor_of_the_log)
{
	uwal_config cfg;
	uwal *w = open_written(&cfg, 20);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		execl("/bin/sleep", "sleep", "10", (char *)NULL);
		_exit(127);
	}
	exec_child_checks(w, &cfg, pid);
}

/* The same with posix_spawn(), which runs no fork handler: only
 * close-on-exec keeps the lock from the child. */
TH_TEST(fork, spawned_program_holds_no_descriptor_of_the_log)
{
	uwal_config cfg;
	uwal *w = open_written(&cfg, 20);
	pid_t pid;
	char *argv[] = {"sleep", "10", NULL};
	cr_assert_eq(posix_spawn(&pid, "/bin/sleep", NULL, NULL, argv, environ), 0);
	exec_child_checks(w, &cfg, pid);
}
