/* process.c — child processes for tests (see process.h). */
#include "process.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUT_MAX (64 * 1024 * 1024)

void ts_remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char sub[4096];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        ts_remove_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

static void proc_init(ts_proc_t *p)
{
    p->status = -1;
    gs_buf_init(&p->out, OUT_MAX);
    gs_buf_init(&p->err, OUT_MAX);
    /* Appending nothing still allocates: data is then always a string. */
    assert_int_equal(gs_buf_append(&p->out, "", 0), GS_OK);
    assert_int_equal(gs_buf_append(&p->err, "", 0), GS_OK);
}

void ts_proc_free(ts_proc_t *p)
{
    gs_buf_free(&p->out);
    gs_buf_free(&p->err);
}

static void exec_child(const char *cwd, const char *const *argv, int out, int err)
{
    if ((cwd && chdir(cwd) != 0) || dup2(out, STDOUT_FILENO) < 0 ||
        (err >= 0 && dup2(err, STDERR_FILENO) < 0))
        _exit(126);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
}

/* Reads both pipes until the child closes them; poll keeps a full one from blocking it. */
static void drain(int out_fd, int err_fd, ts_proc_t *p)
{
    struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    gs_buf_t *bufs[2] = {&p->out, &p->err};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            assert_int_equal(errno, EINTR);
            continue;
        }
        for (int i = 0; i < 2; i++) {
            char chunk[65536];
            ssize_t n;
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            n = read(fds[i].fd, chunk, sizeof chunk);
            if (n > 0)
                assert_int_equal(gs_buf_append(bufs[i], chunk, (size_t)n), GS_OK);
            else if (n == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
}

static void make_pipe(int fds[2])
{
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
    assert_int_equal(fcntl(fds[1], F_SETFD, FD_CLOEXEC), 0);
}

void ts_run(const char *cwd, const char *const *argv, ts_proc_t *p)
{
    int out[2], err[2], status;
    pid_t pid;
    proc_init(p);
    make_pipe(out);
    make_pipe(err);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        exec_child(cwd, argv, out[1], err[1]);
    close(out[1]);
    close(err[1]);
    drain(out[0], err[0], p);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    p->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Reads up to the first newline from fd, waiting at most timeout_ms in all. */
static bool read_line(int fd, char *line, size_t len, int timeout_ms)
{
    size_t n = 0;
    while (n + 1 < len) {
        struct pollfd pfd = {fd, POLLIN, 0};
        char c;
        if (poll(&pfd, 1, timeout_ms) <= 0 || read(fd, &c, 1) != 1)
            return false;
        if (c == '\n')
            break;
        line[n++] = c;
    }
    line[n] = '\0';
    return n > 0;
}

pid_t ts_spawn_server(const char *const *argv, char *line, size_t len, int timeout_ms)
{
    int out[2];
    pid_t pid;
    make_pipe(out);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        exec_child(NULL, argv, out[1], -1);
    close(out[1]);
    if (!read_line(out[0], line, len, timeout_ms)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(out[0]);
        fail_msg("%s did not announce itself within %d ms", argv[0], timeout_ms);
    }
    close(out[0]); /* later output goes nowhere; the server must not depend on it */
    return pid;
}

int ts_stop_server(pid_t pid, int timeout_ms)
{
    int status;
    kill(pid, SIGTERM);
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}
