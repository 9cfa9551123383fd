/*
 * check_dies_asserting(action, context, expression): runs action(context) in a forked child
 * and is true when the child dies of SIGABRT after printing an assertion failure that names
 * `expression` (KV_ASSERT's message); the child's stderr comes back on a pipe, read up to
 * CHECK_ABORT_MESSAGE_BYTES. For the tests that prove a verify function or an assertion
 * catches a broken invariant. The child gets no core file.
 */
#ifndef KV_CHECK_ABORT_H
#define KV_CHECK_ABORT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK_ABORT_MESSAGE_BYTES 1024

static inline bool check_dies_asserting(void (*action)(void *), void *context,
                                        const char *expression)
{
    int fds[2];
    if (pipe(fds) != 0) {
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        action(context);
        _exit(0);
    }
    close(fds[1]);
    char message[CHECK_ABORT_MESSAGE_BYTES];
    size_t length = 0;
    ssize_t got = 0;
    /* Bound: the message buffer; the child's output past it is not needed. */
    while (length < sizeof(message) - 1 &&
           (got = read(fds[0], message + length, sizeof(message) - 1 - length)) > 0) {
        length += (size_t)got;
    }
    message[length] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    bool aborted = child > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    bool named = strstr(message, expression) != NULL;
    if (!aborted || !named) {
        fprintf(stderr, "expected an abort on '%s'; the child said: %s\n", expression, message);
    }
    return aborted && named;
}

#endif
