/* pricing.c — cloud units and prices as the explorer computes them
 * (reference: tfgrid-v2 §2): units rounded to 3 decimals per workload, pools
 * bought in whole unit-seconds, amounts in stropes (1e-7 TFT). Units are kept
 * in thousandths so that no sum drifts. */
#include "reservation.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#define SECONDS_PER_MONTH (30.0 * 86400.0)

static uint64_t milli(double units)
{
    return units <= 0 ? 0 : (uint64_t)llround(units * 1000.0);
}

void gs_units_zdb(uint32_t size_gib, int disk, uint64_t *cu_milli, uint64_t *su_milli)
{
    double per = disk == GS_DISK_SSD ? 300.0 : 1200.0;
    *cu_milli = 0;
    *su_milli = milli((double)size_gib / per);
}

void gs_units_container(int64_t cpu, uint32_t memory_mib, uint32_t disk_mib, int disk,
                        uint64_t *cu_milli, uint64_t *su_milli)
{
    /* Memory in GB with 4 decimals; the first 50 GB of a container's disk are free. */
    double mru = round((double)memory_mib / 1024.0 * 10000.0) / 10000.0;
    double cru = (double)cpu;
    double storage = (double)disk_mib / 1024.0 - 50.0;
    double cu = fmin(mru / 4.0, cru / 2.0);
    *cu_milli = milli(cu);
    *su_milli = storage > 0 ? milli(storage / (disk == GS_DISK_SSD ? 300.0 : 1200.0)) : 0;
}

void gs_unit_rates(const gs_prices_t *p, uint64_t *cu_rate, uint64_t *su_rate)
{
    /* $ per month -> stropes per second at TftPriceMill thousandths of a $ per TFT. */
    double k = 1e10 / p->tft_mill / SECONDS_PER_MONTH;
    *cu_rate = (uint64_t)floor(p->cu_usd_month * k);
    *su_rate = (uint64_t)floor(p->su_usd_month * k);
}

void gs_format_tft(uint64_t stropes, char *out, size_t outlen)
{
    snprintf(out, outlen, "%" PRIu64 ".%07" PRIu64, stropes / GS_STROPES_PER_TFT,
             stropes % GS_STROPES_PER_TFT);
}
