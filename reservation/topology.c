/* topology.c — the built-in topologies (templates/topologies/NAME.yaml): which
 * machines a deployment has, and what runs on each. They are data, read with the
 * same table-driven reader as specs. */
#include "reservation.h"

#include <stdio.h>
#include <string.h>

extern const gs_embedded_t gs_templates_embedded[];

static const char *const gateway_modes[] = {"read-write", "read-only", NULL};
static const char *const metadata_roles[] = {"master", "replica", NULL};

typedef struct {
    char *role;
    int gateway, metadata;
} machine_doc_t;

static const gs_cfg_key_t machine_keys[] = {
    {"role", GS_CFG_STRING, offsetof(machine_doc_t, role), 1, 7, .required = true},
    {"gateway", GS_CFG_ENUM, offsetof(machine_doc_t, gateway), .choices = gateway_modes,
     .required = true},
    {"metadata", GS_CFG_ENUM, offsetof(machine_doc_t, metadata), .choices = metadata_roles,
     .required = true},
    {NULL},
};

typedef struct {
    char *name;
    struct {
        char *flist, *entrypoint;
    } gateway;
    const gs_yaml_node_t *machines;
} topo_doc_t;

static const gs_cfg_key_t gateway_keys[] = {
    {"flist", GS_CFG_STRING, offsetof(topo_doc_t, gateway.flist) - offsetof(topo_doc_t, gateway), 1,
     255, .required = true},
    {"entrypoint", GS_CFG_STRING,
     offsetof(topo_doc_t, gateway.entrypoint) - offsetof(topo_doc_t, gateway), 1, 255,
     .required = true},
    {NULL},
};

static const gs_cfg_key_t topo_keys[] = {
    {"name", GS_CFG_STRING, offsetof(topo_doc_t, name), 1, 31, .required = true},
    {"gateway", GS_CFG_SECTION, offsetof(topo_doc_t, gateway), .section = gateway_keys,
     .required = true},
    {"machines", GS_CFG_NODE, offsetof(topo_doc_t, machines), .required = true},
    {NULL},
};

static int read_machine(gs_cfg_ctx_t *ctx, const gs_yaml_node_t *item, gs_topology_t *topo,
                        gs_diag_t *diag)
{
    machine_doc_t m = {0};
    gs_topo_machine_t *out = &topo->machines[topo->n_machines];
    int err = gs_cfg_apply(ctx, machine_keys, item, &m, "machines[]", diag);
    if (err == GS_OK) {
        snprintf(out->role, sizeof out->role, "%s", m.role);
        out->gateway = m.gateway;
        out->metadata = m.metadata;
        topo->n_machines++;
    }
    gs_cfg_free(machine_keys, &m);
    return err;
}

static int read_topology(gs_cfg_ctx_t *ctx, const gs_yaml_node_t *root, gs_topology_t *topo,
                         gs_diag_t *diag)
{
    topo_doc_t doc = {0};
    int err = gs_cfg_apply(ctx, topo_keys, root, &doc, "", diag);
    if (err)
        goto out;
    snprintf(topo->name, sizeof topo->name, "%s", doc.name);
    snprintf(topo->flist, sizeof topo->flist, "%s", doc.gateway.flist);
    snprintf(topo->entrypoint, sizeof topo->entrypoint, "%s", doc.gateway.entrypoint);
    if (doc.machines->kind != GS_YAML_SEQ || doc.machines->n == 0 ||
        doc.machines->n > GS_TOPO_MAX_MACHINES) {
        err = gs_diag_at(diag, GS_EPARSE, ctx->file, doc.machines->line, doc.machines->col,
                         "machines", "expected a list of 1 to %d machines", GS_TOPO_MAX_MACHINES);
        goto out;
    }
    for (size_t i = 0; i < doc.machines->n && err == GS_OK; i++)
        err = read_machine(ctx, doc.machines->items[i], topo, diag);
    if (err == GS_OK && topo->machines[0].metadata != GS_META_MASTER)
        err = gs_diag_set(diag, GS_EPARSE, "%s: the first machine must hold the metadata master",
                          ctx->file);
out:
    gs_cfg_free(topo_keys, &doc);
    return err;
}

int gs_topology_load(const char *name, gs_topology_t *topo, gs_diag_t *diag)
{
    char file[64];
    const gs_embedded_t *e;
    gs_yaml_node_t *root = NULL;
    gs_cfg_ctx_t ctx = {.file = file};
    int err;
    memset(topo, 0, sizeof *topo);
    snprintf(file, sizeof file, "topologies/%s.yaml", name);
    e = strlen(name) < 32 ? gs_embedded_find(gs_templates_embedded, file) : NULL;
    if (e == NULL)
        return gs_diag_set(diag, GS_EINVAL, "unknown topology '%s'", name);
    err = gs_yaml_parse(e->data, e->len, file, &root, diag);
    if (err == GS_OK)
        err = read_topology(&ctx, root, topo, diag);
    gs_yaml_free(root);
    gs_cfg_ctx_free(&ctx);
    return err;
}

int gs_topology_list(gs_buf_t *out)
{
    const char *sep = "";
    for (const gs_embedded_t *e = gs_templates_embedded; e->name; e++) {
        const char *base;
        int err;
        if (strncmp(e->name, "topologies/", 11) != 0)
            continue;
        base = e->name + 11;
        err = gs_buf_printf(out, "%s%.*s", sep, (int)strcspn(base, "."), base);
        if (err)
            return err;
        sep = ", ";
    }
    return GS_OK;
}
