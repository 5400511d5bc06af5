/* containers.c — container workloads (type 1) run by the node agents: see containers.h.
 *
 * Choices:
 *  - The flist is not downloaded: the world's flist map (--flist URL=COMMAND, the grid
 *    file's `flists`) says what runs for it. An unknown flist fails the workload (result
 *    state 0 naming the flist). entrypoint, interactive, volumes, network_connection
 *    and hub_url are not used.
 *  - The process starts with uv_spawn on the sim's loop, in its own process group,
 *    in <state>/<node_id>/containers/<workload id>/ with stdout and stderr appended to
 *    container.log there; stdin is /dev/null.
 *  - Its environment: the workload's `environment`, its `secret_environment` values
 *    decrypted for the node as a 0-db password is, the sim's PATH, and
 *    GRIDSTOR_SIM_WORKLOAD_ID (the workload id), GRIDSTOR_SIM_NODE_ID,
 *    GRIDSTOR_SIM_FLIST and GRIDSTOR_SIM_IPV4 (its own loopback address, below). Where names repeat, these
 *    sim variables win over secrets, secrets over plain variables, and plain variables
 *    over PATH. A name that is empty, holds '=' or is over 255 bytes fails the
 *    workload.
 *  - While the process runs, cpu cores are reserved as cru, memory MiB / 1024 as mru
 *    and disk_size MiB / 1024 as sru (ssd) or hru (hdd); released when it stops. No
 *    free-capacity check (as for 0-dbs).
 *  - Result: state 1 with data_json {"id": "<id>-<workload_id>", "ipv6": "",
 *    "ipv4": ADDRESS, "yggdrasil": ""} (the members of zos v2's ContainerResult),
 *    signed by the node; state 0 with the reason when it cannot start. A process that
 *    ends by itself sets state 0 "container exited with status N" (or "container
 *    killed by signal N"): the workload stays deployed but no longer runs, as a
 *    crashed container on a node.
 *  - Stopping (deletion, the pool running dry, the node going down, the sim
 *    stopping): SIGTERM to the process group, SIGKILL after 3 s. When the group
 *    leader is gone, what is left of its group is killed too, so nothing outlives its
 *    container. Deletion sets result state 2 at once.
 *  - The command's arguments may name the container's variables as ${NAME} (what an
 *    image's entrypoint would see); an unset one is empty.
 *  - Each container has its own IPv4 address, as on the grid, so that its servers can
 *    listen on fixed ports: 127.B.H.L with H.L the workload id's low 16 bits and B a
 *    network octet drawn once per state folder (64..254, kept in the state), so that
 *    sims running side by side rarely share addresses. Linux routes all of 127/8 to
 *    the loopback interface.
 *  - A node going down kills its containers and leaves their results as they were
 *    (a node that is down reports nothing); coming up it starts every container
 *    workload of the node that is not deleted again, including those that had exited,
 *    as a rebooted node redeploys its workloads, and reports their results anew.
 *  - A sim restarted on the same state folder does the same for every deployed
 *    container workload it reads back (sim_containers_restore), once its node is up.
 *  - A sim that must exit at once (a second signal) SIGKILLs every process group it
 *    started (sim_containers_kill_all), so no container outlives it. */
#define _POSIX_C_SOURCE 200809L /* kill, O_CLOEXEC */
#include "containers.h"
#include "registry.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#define GRACE_MS     3000
#define ENV_NAME_MAX 255
#define ENV_MAX      (2 * 100 + 8) /* environment + secrets (100 each, workloads.c) + ours */
#define MIB_PER_GB   1024.0

typedef struct proc proc_t;

typedef struct container {
    struct container *next;
    int64_t id;
    size_t node;   /* world node index */
    json_t *doc;   /* the stored workload (a reference) */
    sim_res_t cap; /* what it reserves while running */
    proc_t *proc;  /* the running (or stopping) process, NULL when none */
    bool restart;  /* start again once the stopping process is gone */
} container_t;

struct proc {
    uv_process_t process;
    uv_timer_t grace;
    struct sim_containers *cs;
    proc_t *prev, *next; /* cs->all */
    container_t *c;      /* NULL once the container no longer waits for it */
    int open;            /* handles not closed yet */
    bool stopping;       /* stopped by the agent, not ended by itself */
};

struct sim_containers {
    sim_ctx_t *ctx;
    unsigned net; /* B of 127.B.H.L */
    char *state_dir;
    container_t *list;
    proc_t *all;  /* every process whose handles are not closed yet */
    size_t procs; /* how many */
    bool closing;
    gs_zdb_closed_cb cb;
    void *ud;
};

/* The containers' network octet: kept in the state, drawn on first use. */
static unsigned network_octet(sim_ctx_t *ctx)
{
    json_t *doc = NULL;
    int64_t b = 0;
    if (ctx->store != NULL &&
        sim_store_get(ctx->store, "containers", "network", &doc, NULL) == GS_OK &&
        gs_json_int(doc, "octet", &b) && b >= 64 && b <= 254) {
        json_decref(doc);
        return (unsigned)b;
    }
    json_decref(doc);
    b = 64 + (int64_t)randombytes_uniform(191);
    doc = json_pack("{s:I}", "octet", (json_int_t)b);
    if (ctx->store != NULL && doc != NULL)
        sim_store_put(ctx->store, "containers", "network", doc);
    json_decref(doc);
    return (unsigned)b;
}

int sim_containers_new(sim_ctx_t *ctx, const char *state_dir, struct sim_containers **out,
                       gs_diag_t *diag)
{
    struct sim_containers *cs = calloc(1, sizeof *cs);
    if (cs == NULL || (cs->state_dir = strdup(state_dir)) == NULL) {
        free(cs);
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    }
    cs->ctx = ctx;
    cs->net = network_octet(ctx);
    *out = cs;
    return GS_OK;
}

static void container_ipv4(const struct sim_containers *cs, int64_t id, char out[16])
{
    snprintf(out, 16, "127.%u.%u.%u", cs->net, (unsigned)(id >> 8) & 255u, (unsigned)id & 255u);
}

static sim_node_t *node_of(const struct sim_containers *cs, const container_t *c)
{
    return &cs->ctx->world.nodes[c->node];
}

static void container_free(container_t *c)
{
    json_decref(c->doc);
    free(c);
}

/* ---- the process ---- */

static void finish_close(struct sim_containers *cs)
{
    gs_zdb_closed_cb cb = cs->cb;
    void *ud = cs->ud;
    free(cs->state_dir);
    free(cs);
    cb(ud);
}

static void on_proc_closed(uv_handle_t *h)
{
    proc_t *p = h->data;
    struct sim_containers *cs = p->cs;
    if (--p->open > 0)
        return;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        cs->all = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    free(p);
    if (--cs->procs == 0 && cs->closing)
        finish_close(cs);
}

static void release_proc(proc_t *p)
{
    uv_close((uv_handle_t *)&p->process, on_proc_closed);
    uv_close((uv_handle_t *)&p->grace, on_proc_closed);
}

static void signal_group(const proc_t *p, int sig)
{
    if (p->process.pid > 0)
        kill(-p->process.pid, sig);
}

static void on_grace_over(uv_timer_t *t)
{
    proc_t *p = t->data;
    gs_log(GS_LOG_WARN, "containers: process %d ignored SIGTERM; killing it", p->process.pid);
    signal_group(p, SIGKILL);
}

static void stop_proc(proc_t *p)
{
    if (p->stopping)
        return;
    p->stopping = true;
    signal_group(p, SIGTERM);
    uv_timer_start(&p->grace, on_grace_over, GRACE_MS, 0);
}

static void reserve(sim_node_t *n, const sim_res_t *r, double sign)
{
    n->reserved.cru += sign * r->cru;
    n->reserved.mru += sign * r->mru;
    n->reserved.hru += sign * r->hru;
    n->reserved.sru += sign * r->sru;
}

static int start(struct sim_containers *cs, container_t *c, gs_diag_t *diag);
static void report_started(struct sim_containers *cs, container_t *c, int err,
                           const gs_diag_t *diag);

/* The container's process ended by itself. */
static void report_exit(struct sim_containers *cs, container_t *c, int64_t status, int sig)
{
    char msg[96];
    if (sig != 0)
        snprintf(msg, sizeof msg, "container killed by signal %d", sig);
    else
        snprintf(msg, sizeof msg, "container exited with status %lld", (long long)status);
    gs_log(GS_LOG_INFO, "containers: workload %lld: %s", (long long)c->id, msg);
    reserve(node_of(cs, c), &c->cap, -1);
    sim_agents_set_result(cs->ctx, c->doc, node_of(cs, c), 0, msg, NULL);
}

static void on_proc_exit(uv_process_t *h, int64_t status, int sig)
{
    proc_t *p = h->data;
    container_t *c = p->c;
    signal_group(p, SIGKILL); /* whatever the leader left behind in its group */
    uv_timer_stop(&p->grace);
    p->c = NULL;
    if (c != NULL) {
        c->proc = NULL;
        if (!p->stopping)
            report_exit(p->cs, c, status, sig);
        if (c->restart && node_of(p->cs, c)->down_since == 0) {
            gs_diag_t diag = {{0}};
            c->restart = false;
            report_started(p->cs, c, start(p->cs, c, &diag), &diag);
        }
    }
    release_proc(p);
}

/* ---- the environment ---- */

typedef struct {
    char *vars[ENV_MAX + 1];
    size_t n;
} env_t;

static void env_free(env_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        sodium_memzero(e->vars[i], strlen(e->vars[i]));
        free(e->vars[i]);
    }
    e->n = 0;
}

/* Adds name=value unless name is already set. */
static int env_put(env_t *e, const char *name, const char *value, gs_diag_t *diag)
{
    size_t len = strlen(name);
    if (len == 0 || len > ENV_NAME_MAX || strchr(name, '=') != NULL)
        return gs_diag_set(diag, GS_EINVAL, "environment: bad variable name '%.64s'", name);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->vars[i], name, len) == 0 && e->vars[i][len] == '=')
            return GS_OK;
    if (e->n >= ENV_MAX)
        return gs_diag_set(diag, GS_EINVAL, "environment: too many variables");
    if ((e->vars[e->n] = malloc(len + strlen(value) + 2)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    sprintf(e->vars[e->n++], "%s=%s", name, value);
    return GS_OK;
}

static int env_secrets(struct sim_containers *cs, const container_t *c, env_t *e, gs_diag_t *diag)
{
    const json_t *secrets = json_object_get(c->doc, "secret_environment");
    unsigned char pk[32];
    char plain[SIM_SECRET_MAX + 1], what[ENV_NAME_MAX + 32];
    const char *name;
    json_t *v;
    int64_t tid = 0;
    int err = GS_OK;
    if (json_object_size(secrets) == 0)
        return GS_OK;
    gs_json_int(c->doc, "customer_tid", &tid);
    if (!sim_registry_user_key(cs->ctx->registry, tid, pk))
        return gs_diag_set(diag, GS_ENOENT, "customer %lld is not in the phonebook",
                           (long long)tid);
    json_object_foreach((json_t *)secrets, name, v)
    {
        snprintf(what, sizeof what, "secret_environment.%.*s", ENV_NAME_MAX, name);
        err = sim_agents_open_secret(what, json_string_value(v), node_of(cs, c), pk, plain, diag);
        if (err == GS_OK)
            err = env_put(e, name, plain, diag);
        sodium_memzero(plain, sizeof plain);
        if (err != GS_OK)
            break;
    }
    return err;
}

static int env_build(struct sim_containers *cs, const container_t *c, env_t *e, gs_diag_t *diag)
{
    const char *path = getenv("PATH"), *name;
    char id[32], ip[16];
    json_t *v;
    int err;
    snprintf(id, sizeof id, "%lld", (long long)c->id);
    container_ipv4(cs, c->id, ip);
    if ((err = env_put(e, "GRIDSTOR_SIM_WORKLOAD_ID", id, diag)) != GS_OK ||
        (err = env_put(e, "GRIDSTOR_SIM_NODE_ID", node_of(cs, c)->node_id, diag)) != GS_OK ||
        (err = env_put(e, "GRIDSTOR_SIM_FLIST", gs_json_str(c->doc, "flist"), diag)) != GS_OK ||
        (err = env_put(e, "GRIDSTOR_SIM_IPV4", ip, diag)) != GS_OK ||
        (err = env_secrets(cs, c, e, diag)) != GS_OK)
        return err;
    json_object_foreach(json_object_get(c->doc, "environment"), name, v)
    {
        if ((err = env_put(e, name, json_string_value(v), diag)) != GS_OK)
            return err;
    }
    return env_put(e, "PATH", path ? path : "/usr/bin:/bin", diag);
}

/* The value of variable name (len bytes) in env, or "" when absent. */
static const char *env_get(const env_t *e, const char *name, size_t len)
{
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->vars[i], name, len) == 0 && e->vars[i][len] == '=')
            return e->vars[i] + len + 1;
    return "";
}

/* One argument with each ${NAME} replaced by the container's variable (as an image's
 * entrypoint sees its environment); a heap string. */
static char *expand_arg(const char *arg, const env_t *e)
{
    gs_buf_t b;
    const char *p = arg, *open, *close;
    gs_buf_init(&b, 64 * 1024);
    while ((open = strstr(p, "${")) != NULL && (close = strchr(open + 2, '}')) != NULL) {
        if (gs_buf_append(&b, p, (size_t)(open - p)) != GS_OK ||
            gs_buf_puts(&b, env_get(e, open + 2, (size_t)(close - open - 2))) != GS_OK)
            goto fail;
        p = close + 1;
    }
    if (gs_buf_puts(&b, p) != GS_OK)
        goto fail;
    return gs_buf_steal(&b);
fail:
    gs_buf_free(&b);
    return NULL;
}

static void free_args(char **args)
{
    for (size_t i = 0; args != NULL && args[i] != NULL; i++)
        free(args[i]);
    free(args);
}

static char **expand_args(char *const *argv, const env_t *e)
{
    size_t n = 0;
    char **out;
    while (argv[n] != NULL)
        n++;
    if ((out = calloc(n + 1, sizeof *out)) == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((out[i] = expand_arg(argv[i], e)) == NULL) {
            free_args(out);
            return NULL;
        }
    return out;
}

/* ---- starting ---- */

/* <state>/<node_id>/containers/<id>, made when missing. */
static int workdir(struct sim_containers *cs, const container_t *c, char *dir, size_t len,
                   gs_diag_t *diag)
{
    int n = snprintf(dir, len, "%s/%s/containers/%lld", cs->state_dir, node_of(cs, c)->node_id,
                     (long long)c->id);
    if (n < 0 || (size_t)n >= len)
        return gs_diag_set(diag, GS_EINVAL, "the state folder's path is too long");
    return gs_mkdir_p(dir, diag);
}

static int spawn(struct sim_containers *cs, container_t *c, const sim_flist_t *fl, env_t *env,
                 const char *dir, int log_fd, gs_diag_t *diag)
{
    proc_t *p = calloc(1, sizeof *p);
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                     {.flags = UV_INHERIT_FD, .data.fd = log_fd},
                                     {.flags = UV_INHERIT_FD, .data.fd = log_fd}};
    char **args = expand_args(fl->argv, env);
    uv_process_options_t o = {.exit_cb = on_proc_exit,
                              .file = args ? args[0] : NULL,
                              .args = args,
                              .env = env->vars,
                              .cwd = dir,
                              .flags = UV_PROCESS_DETACHED, /* its own process group */
                              .stdio_count = 3,
                              .stdio = stdio};
    int rc;
    if (p == NULL || args == NULL) {
        free(p);
        free_args(args);
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    }
    p->cs = cs;
    p->open = 2;
    p->process.data = p->grace.data = p;
    p->next = cs->all;
    if (cs->all != NULL)
        cs->all->prev = p;
    cs->all = p;
    cs->procs++;
    uv_timer_init(cs->ctx->loop, &p->grace);
    rc = uv_spawn(cs->ctx->loop, &p->process, &o);
    free_args(args);
    if (rc != 0) {
        release_proc(p);
        return gs_diag_set(diag, GS_EIO, "flist %s: cannot start %s: %s", fl->url, fl->argv[0],
                           uv_strerror(rc));
    }
    p->c = c;
    c->proc = p;
    gs_log(GS_LOG_INFO, "containers: workload %lld runs as process %d in %s", (long long)c->id,
           p->process.pid, dir);
    return GS_OK;
}

static int start(struct sim_containers *cs, container_t *c, gs_diag_t *diag)
{
    const char *url = gs_json_str(c->doc, "flist");
    const sim_flist_t *fl = url ? sim_world_flist(&cs->ctx->world, url) : NULL;
    env_t env = {.n = 0};
    char dir[4096], log[4200];
    int err, fd = -1;
    if (node_of(cs, c)->down_since != 0)
        return gs_diag_set(diag, GS_EIO, "node %s is down", node_of(cs, c)->node_id);
    if (fl == NULL)
        return gs_diag_set(diag, GS_ENOENT,
                           "flist %.512s: not in the local grid's flist map (--flist or the "
                           "grid file's flists)",
                           url ? url : "(none)");
    if ((err = env_build(cs, c, &env, diag)) == GS_OK &&
        (err = workdir(cs, c, dir, sizeof dir, diag)) == GS_OK) {
        snprintf(log, sizeof log, "%s/container.log", dir);
        if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
            err = gs_diag_set(diag, GS_EIO, "%s: %s", log, strerror(errno));
    }
    if (err == GS_OK)
        err = spawn(cs, c, fl, &env, dir, fd, diag);
    if (fd >= 0)
        close(fd);
    env_free(&env);
    if (err == GS_OK)
        reserve(node_of(cs, c), &c->cap, 1);
    return err;
}

static void report_started(struct sim_containers *cs, container_t *c, int err,
                           const gs_diag_t *diag)
{
    char wid[96], ip[16];
    int64_t w = 0;
    if (err != GS_OK) {
        gs_log(GS_LOG_INFO, "containers: workload %lld not started: %s", (long long)c->id,
               diag->msg);
        sim_agents_set_result(cs->ctx, c->doc, node_of(cs, c), 0, diag->msg, NULL);
        return;
    }
    gs_json_int(c->doc, "workload_id", &w);
    snprintf(wid, sizeof wid, "%lld-%lld", (long long)c->id, (long long)w);
    container_ipv4(cs, c->id, ip);
    sim_agents_set_result(
        cs->ctx, c->doc, node_of(cs, c), 1, "",
        json_pack("{s:s, s:s, s:s, s:s}", "id", wid, "ipv6", "", "ipv4", ip, "yggdrasil", ""));
}

/* ---- the agent's side ---- */

static container_t *container_new(struct sim_containers *cs, json_t *doc, gs_diag_t *diag)
{
    const json_t *cap = json_object_get(doc, "capacity");
    const char *node_id = gs_json_str(doc, "node_id");
    sim_node_t *n = node_id ? sim_world_node(&cs->ctx->world, node_id) : NULL;
    int64_t cpu = 0, memory = 0, disk = 0, disk_type = 0;
    container_t *c;
    if (n == NULL) {
        gs_diag_set(diag, GS_ENOENT, "no such node");
        return NULL;
    }
    if ((c = calloc(1, sizeof *c)) == NULL) {
        gs_diag_set(diag, GS_ENOMEM, "out of memory");
        return NULL;
    }
    gs_json_int(doc, "id", &c->id);
    gs_json_int(cap, "cpu", &cpu);
    gs_json_int(cap, "memory", &memory);
    gs_json_int(cap, "disk_size", &disk);
    gs_json_int(cap, "disk_type", &disk_type);
    c->node = (size_t)(n - cs->ctx->world.nodes);
    c->doc = json_incref(doc);
    c->cap.cru = (double)cpu;
    c->cap.mru = (double)memory / MIB_PER_GB;
    *(disk_type == 1 ? &c->cap.sru : &c->cap.hru) = (double)disk / MIB_PER_GB;
    return c;
}

void sim_containers_provision(struct sim_containers *cs, json_t *doc)
{
    gs_diag_t diag = {{0}};
    container_t *c = container_new(cs, doc, &diag);
    int err;
    if (c == NULL) {
        sim_agents_set_result(cs->ctx, doc, NULL, 0, diag.msg, NULL);
        return;
    }
    err = start(cs, c, &diag);
    report_started(cs, c, err, &diag);
    if (err != GS_OK) {
        container_free(c);
        return;
    }
    c->next = cs->list;
    cs->list = c;
}

/* Stops c's process, if any, and releases what it reserved. */
static void stop(struct sim_containers *cs, container_t *c)
{
    c->restart = false;
    if (c->proc == NULL || c->proc->stopping)
        return;
    reserve(node_of(cs, c), &c->cap, -1);
    stop_proc(c->proc);
}

void sim_containers_deprovision(struct sim_containers *cs, json_t *doc)
{
    int64_t id = 0;
    container_t **at = &cs->list, *c;
    gs_json_int(doc, "id", &id);
    while (*at != NULL && (*at)->id != id)
        at = &(*at)->next;
    if ((c = *at) == NULL)
        return; /* never started */
    *at = c->next;
    stop(cs, c);
    if (c->proc != NULL)
        c->proc->c = NULL; /* the process ends on its own now */
    sim_agents_set_result(
        cs->ctx, doc, node_of(cs, c), 2, "",
        json_incref(json_object_get(json_object_get(doc, "result"), "data_json")));
    container_free(c);
}

void sim_containers_restore(struct sim_containers *cs, json_t *doc)
{
    gs_diag_t diag = {{0}};
    container_t *c = container_new(cs, doc, &diag);
    if (c == NULL) {
        sim_agents_set_result(cs->ctx, doc, NULL, 0, diag.msg, NULL);
        return;
    }
    c->next = cs->list;
    cs->list = c;
    if (node_of(cs, c)->down_since == 0)
        report_started(cs, c, start(cs, c, &diag), &diag);
}

void sim_containers_kill_all(const struct sim_containers *cs)
{
    for (const proc_t *p = cs->all; p != NULL; p = p->next)
        signal_group(p, SIGKILL);
}

void sim_containers_node_down(struct sim_containers *cs, size_t node)
{
    for (container_t *c = cs->list; c != NULL; c = c->next)
        if (c->node == node)
            stop(cs, c);
}

void sim_containers_node_up(struct sim_containers *cs, size_t node)
{
    for (container_t *c = cs->list; c != NULL; c = c->next) {
        gs_diag_t diag = {{0}};
        if (c->node != node)
            continue;
        if (c->proc != NULL && c->proc->stopping)
            c->restart = true; /* start once the old process is gone */
        else if (c->proc == NULL)
            report_started(cs, c, start(cs, c, &diag), &diag);
    }
}

void sim_containers_close(struct sim_containers *cs, gs_zdb_closed_cb cb, void *ud)
{
    cs->cb = cb;
    cs->ud = ud;
    cs->closing = true;
    while (cs->list != NULL) {
        container_t *c = cs->list;
        cs->list = c->next;
        stop(cs, c);
        if (c->proc != NULL)
            c->proc->c = NULL;
        container_free(c);
    }
    if (cs->procs == 0)
        finish_close(cs);
}
