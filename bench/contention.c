/* SPDX-License-Identifier: Apache-2.0 */
/*
 * contention.c - contention=1: a process that keeps one CPU busy.
 *
 * On this 2-core VM any busy vCPU delays I/O completions (shared/NOTES.md,
 * "the 100 ms stall"), so how an engine behaves beside a busy neighbour is
 * part of what it costs. The neighbour is a separate process, not a
 * thread, so that its CPU time stays out of the job's getrusage
 * (RUSAGE_SELF) figures. It spins without system calls and dies with us
 * (PR_SET_PDEATHSIG) if uwal-bench exits without stopping it.
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int contention_start(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) /* the parent died before prctl */
			_exit(0);
		/* A loop with a constant condition may run forever (C11
		 * 6.8.5p6): the compiler keeps it. */
		for (;;)
			;
	}
	return (int)pid;
}

void contention_stop(int pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}
