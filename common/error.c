/* error.c — the error table, diagnostics and logging. */
#include "common.h"

#include <stdio.h>
#include <string.h>

static const char *const err_text[] = {[GS__ERR_NONE] = "success",
#define GS__ERR_TEXT(name, text) [GS__ERR_I_##name] = text,
                                       GS_ERR_MAP(GS__ERR_TEXT)
#undef GS__ERR_TEXT
};

static const char *const err_names[] = {[GS__ERR_NONE] = "OK",
#define GS__ERR_NAME(name, text) [GS__ERR_I_##name] = "E" #name,
                                        GS_ERR_MAP(GS__ERR_NAME)
#undef GS__ERR_NAME
};

static int err_index(int err)
{
    int i = -err;
    return (i >= 0 && i < GS__ERR_COUNT) ? i : -1;
}

const char *gs_strerror(int err)
{
    int i = err_index(err);
    return i < 0 ? "unknown error" : err_text[i];
}

const char *gs_err_name(int err)
{
    int i = err_index(err);
    return i < 0 ? "EUNKNOWN" : err_names[i];
}

int gs_diag_set(gs_diag_t *diag, int err, const char *fmt, ...)
{
    va_list ap;
    if (diag == NULL)
        return err;
    va_start(ap, fmt);
    vsnprintf(diag->msg, sizeof diag->msg, fmt, ap);
    va_end(ap);
    return err;
}

int gs_diag_at(gs_diag_t *diag, int err, const char *file, unsigned line, unsigned col,
               const char *key, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (diag == NULL)
        return err;
    n = snprintf(diag->msg, sizeof diag->msg, "%s:%u:%u: %s%s", file ? file : "<input>", line, col,
                 key && *key ? key : "", key && *key ? ": " : "");
    if (n < 0 || (size_t)n >= sizeof diag->msg)
        return err;
    va_start(ap, fmt);
    vsnprintf(diag->msg + n, sizeof diag->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

static gs_log_level_t log_level = GS_LOG_WARN;

void gs_log_set_level(gs_log_level_t level)
{
    log_level = level;
}

void gs_log(gs_log_level_t level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    va_list ap;
    if (level > log_level)
        return;
    fprintf(stderr, "gridstor: %s: ", names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
