/* buf.c — growable byte buffers with a hard cap, the one place input is accumulated. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gs_buf_init(gs_buf_t *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

static int reserve(gs_buf_t *b, size_t extra)
{
    size_t want, cap;
    char *p;
    if (extra > b->max || b->len > b->max - extra)
        return GS_ETOOBIG;
    want = b->len + extra + 1;
    if (want <= b->cap)
        return GS_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return GS_ENOMEM;
    b->data = p;
    b->cap = cap;
    return GS_OK;
}

int gs_buf_append(gs_buf_t *b, const void *p, size_t n)
{
    int err = reserve(b, n);
    if (err)
        return err;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return GS_OK;
}

int gs_buf_puts(gs_buf_t *b, const char *s)
{
    return gs_buf_append(b, s, strlen(s));
}

int gs_buf_printf(gs_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n, err;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return GS_EINVAL;
    err = reserve(b, (size_t)n);
    if (err)
        return err;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return GS_OK;
}

void gs_buf_reset(gs_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void gs_buf_free(gs_buf_t *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *gs_buf_steal(gs_buf_t *b)
{
    char *p = b->data;
    if (p == NULL)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
