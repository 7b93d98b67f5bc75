/* SPDX-License-Identifier: MIT */
/* The fork-and-expect-SIGABRT helper of the unit tests (see abort_helper.h). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abort_helper.h"

void ka_test_expect_abort(void (*body)(struct ka_alloc *a, void *arg), struct ka_alloc *a,
			  void *arg)
{
	pid_t pid;
	int st = 0;

	fflush(NULL); /* buffered output must not be written twice */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		body(a, arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}
