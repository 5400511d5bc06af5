/* gridview.c — gridstord's view of the grid: the explorer's nodes, farms and prices,
 * read on the daemon's loop at start and every GS_GRIDVIEW_REFRESH_MS after, so that
 * planning a deployment never waits for the explorer. A read that fails keeps the
 * previous view and says why in the answers that need it. */
#include "daemon.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void read_grid(gs_daemon_t *d);

static void on_read(int err, const gs_diag_t *diag, void *ud)
{
    gs_daemon_t *d = ud;
    gs_grid_t *g = d->view.loading;
    d->view.loading = NULL;
    if (err != GS_OK) {
        snprintf(d->view.error, sizeof d->view.error, "%s", diag->msg);
        gs_log(GS_LOG_WARN, "reading the grid: %s", diag->msg);
        gs_grid_free(g);
        free(g);
        return;
    }
    gs_grid_free(&d->view.grid);
    d->view.grid = *g; /* moved */
    free(g);
    d->view.ready = true;
    d->view.read_at = (int64_t)time(NULL);
    d->view.error[0] = '\0';
}

static void read_grid(gs_daemon_t *d)
{
    gs_diag_t diag = {{0}};
    if (d->view.loading != NULL || d->cfg.explorer == NULL || d->client == NULL)
        return; /* a read is under way, or there is no explorer */
    if ((d->view.loading = calloc(1, sizeof *d->view.loading)) == NULL)
        return;
    if (gs_grid_fetch_start(d->client, d->cfg.explorer, d->view.loading, on_read, d, &diag) !=
        GS_OK) {
        snprintf(d->view.error, sizeof d->view.error, "%s", diag.msg);
        free(d->view.loading);
        d->view.loading = NULL;
    }
}

static void on_timer(uv_timer_t *t)
{
    read_grid(t->data);
}

void gs_gridview_start(gs_daemon_t *d)
{
    if (d->cfg.explorer == NULL)
        snprintf(d->view.error, sizeof d->view.error,
                 "the configuration names no explorer: add `explorer: URL` to it");
    uv_timer_init(&d->loop, &d->view.timer);
    d->view.timer.data = d;
    uv_timer_start(&d->view.timer, on_timer, 0, GS_GRIDVIEW_REFRESH_MS);
}

void gs_gridview_close(gs_daemon_t *d)
{
    if (d->view.timer.data != NULL)
        uv_close((uv_handle_t *)&d->view.timer, NULL);
    gs_grid_free(&d->view.grid);
    d->view.ready = false;
    /* a read under way is canceled with the HTTP client, which frees d->view.loading */
}
