/* qr.c — QR codes for signandpay documents: byte-mode encoding with libqrencode at the
 * strongest error-correction level that fits, rendered as a 1-bit PNG (libpng), an SVG
 * with one path, and UTF-8 half blocks for a terminal. */
#include "reservation.h"

#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>
#include <zlib.h>

#define IMG_QUIET     4 /* modules of quiet zone around PNG and SVG (the standard's 4) */
#define TERM_QUIET    2 /* terminals are short of lines; 2 modules is enough for scanners */
#define PNG_MAX_SCALE 32

struct gs_qr {
    QRcode *code;
    char level; /* 'L', 'M', 'Q' or 'H' */
};

/* Byte-mode capacity of a version-40 symbol per level, strongest first. A payload goes
 * to the first level that holds it, so libqrencode is called once with a level that
 * cannot fail with ERANGE. */
static const struct {
    QRecLevel level;
    char name;
    size_t max_bytes;
} levels[] = {
    {QR_ECLEVEL_H, 'H', 1273},
    {QR_ECLEVEL_Q, 'Q', 1663},
    {QR_ECLEVEL_M, 'M', 2331},
    {QR_ECLEVEL_L, 'L', GS_QR_MAX_BYTES},
};

/* ---- encoding ---------------------------------------------------------------------------- */

static int encode_error(int err, size_t len, char level, gs_diag_t *diag)
{
    switch (err) {
    case ENOMEM:
        return gs_diag_set(diag, GS_ENOMEM, "QR code: out of memory encoding %zu bytes", len);
    case ERANGE:
        return gs_diag_set(diag, GS_ETOOBIG,
                           "QR code: %zu bytes do not fit a version-40 symbol at level %c", len,
                           level);
    case EINVAL:
        return gs_diag_set(diag, GS_EINVAL, "QR code: libqrencode refused %zu bytes at level %c",
                           len, level);
    default:
        return gs_diag_set(diag, GS_EQR, "QR code: libqrencode failed on %zu bytes: %s", len,
                           strerror(err));
    }
}

int gs_qr_encode(const void *data, size_t len, gs_qr_t **qr, gs_diag_t *diag)
{
    size_t i;
    gs_qr_t *q = NULL;
    int rc = GS_OK;

    if (qr == NULL)
        return gs_diag_set(diag, GS_EINVAL, "QR code: no place for the result");
    *qr = NULL;
    /* libqrencode refuses empty input with EINVAL; say so in our words. */
    if (len == 0)
        return gs_diag_set(diag, GS_EINVAL, "QR code: nothing to encode (0 bytes)");
    if (data == NULL)
        return gs_diag_set(diag, GS_EINVAL, "QR code: no data for %zu bytes", len);
    if (len > GS_QR_MAX_BYTES)
        return gs_diag_set(diag, GS_ETOOBIG,
                           "QR code: %zu bytes, over the %d-byte limit of one code (version 40, "
                           "level L, byte mode)",
                           len, GS_QR_MAX_BYTES);
    for (i = 0; len > levels[i].max_bytes; i++)
        ;
    q = calloc(1, sizeof *q);
    if (q == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "QR code: out of memory");
    q->level = levels[i].name;
    errno = 0;
    q->code = QRcode_encodeData((int)len, data, 0, levels[i].level);
    if (q->code == NULL) {
        rc = encode_error(errno, len, q->level, diag);
        goto out;
    }
    *qr = q;
    q = NULL;
out:
    gs_qr_free(q);
    return rc;
}

int gs_qr_version(const gs_qr_t *qr)
{
    return qr ? qr->code->version : 0;
}

char gs_qr_level(const gs_qr_t *qr)
{
    return qr ? qr->level : '\0';
}

void gs_qr_free(gs_qr_t *qr)
{
    if (qr == NULL)
        return;
    QRcode_free(qr->code);
    free(qr);
}

/* libqrencode sets bit 0 of a module's byte when the module is dark. Coordinates are
 * in modules and may fall in the quiet zone (negative or past the width): light. */
static int is_dark(const QRcode *code, int x, int y)
{
    if (x < 0 || y < 0 || x >= code->width || y >= code->width)
        return 0;
    return code->data[(size_t)y * (size_t)code->width + (size_t)x] & 1;
}

/* Puts back the buffer's length as it was before a failed rendering. */
static void buf_truncate(gs_buf_t *b, size_t len)
{
    b->len = len;
    if (b->data)
        b->data[len] = '\0';
}

/* ---- PNG --------------------------------------------------------------------------------- */

typedef struct {
    gs_buf_t *out;
    int err; /* what gs_buf_append said when it refused */
} png_sink_t;

static void png_sink_write(png_structp png, png_bytep p, size_t n)
{
    png_sink_t *sink = png_get_io_ptr(png);
    int err = gs_buf_append(sink->out, p, n);
    if (err) {
        sink->err = err;
        png_error(png, "output buffer refused the PNG");
    }
}

static void png_sink_flush(png_structp png)
{
    (void)png;
}

/* libpng's default handler prints to stderr; keep its own messages for the log instead
 * (a full output buffer is the caller's business, told by the return code). */
static void png_on_error(png_structp png, png_const_charp msg)
{
    const png_sink_t *sink = png_get_io_ptr(png);
    if (sink == NULL || sink->err == GS_OK)
        gs_log(GS_LOG_WARN, "libpng: %s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    gs_log(GS_LOG_DEBUG, "libpng: %s", msg);
}

/* Clears pixels [from, to) of a packed row (from < to): masks for the partial bytes at
 * the ends, whole bytes between. Pixel p is bit 7 - p % 8 of byte p / 8. */
static void clear_pixels(png_bytep row, size_t from, size_t to)
{
    size_t first = from >> 3, last = (to - 1) >> 3;
    unsigned head = 0xffu >> (from & 7);             /* pixels from..end of the first byte */
    unsigned tail = 0xff00u >> (((to - 1) & 7) + 1); /* pixels start..to-1 of the last byte */

    if (first == last) {
        row[first] &= (png_byte) ~(head & tail);
        return;
    }
    row[first] &= (png_byte)~head;
    memset(row + first + 1, 0, last - first - 1);
    row[last] &= (png_byte)~tail;
}

/* One image row for module row y (-1 for a quiet row); in 1-bit grayscale 0 is black.
 * Each run of dark modules is cleared in one go. */
static void pack_row(const QRcode *code, int y, int scale, png_bytep row, size_t row_bytes)
{
    const unsigned char *m;
    size_t s = (size_t)scale;
    int x, end;

    memset(row, 0xff, row_bytes);
    if (y < 0)
        return;
    m = code->data + (size_t)y * (size_t)code->width;
    for (x = 0; x < code->width; x = end + 1) {
        for (end = x; end < code->width && (m[end] & 1); end++)
            ;
        if (end > x)
            clear_pixels(row, (size_t)(x + IMG_QUIET) * s, (size_t)(end + IMG_QUIET) * s);
    }
}

/* Rendering should cost a fraction of the encoding. Each module row is `scale`
 * identical image rows, which the "up" filter turns into rows of zeros; run-length
 * deflate then squeezes them without hashing, and small zlib tables (a 4 KiB window,
 * memLevel 2) avoid clearing and faulting in ~256 KiB per image. Measured on a
 * 2900-byte version-40 code: at scale 4 the PNG is 9 KB instead of 7 KB with the
 * defaults at level 1, and costs about 16% of the encoding time instead of 36%; at
 * scale 32 it is 41 KB instead of 446 KB. */
static void set_fast_compression(png_structp png)
{
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_UP);
    png_set_compression_level(png, Z_BEST_SPEED);
    png_set_compression_strategy(png, Z_RLE);
    png_set_compression_mem_level(png, 2);
    png_set_compression_window_bits(png, 12);
}

/* Everything libpng may longjmp out of. No local of this function that changes after
 * setjmp is read after the longjmp (the caller looks only at the sink and its own
 * variables, set before), so none needs to be volatile. */
static int write_png(png_structp png, png_infop info, const QRcode *code, int scale, png_bytep row,
                     size_t row_bytes)
{
    png_uint_32 side = (png_uint_32)(code->width + 2 * IMG_QUIET) * (png_uint_32)scale;
    int y, s;

    if (setjmp(png_jmpbuf(png)))
        return GS_EQR;
    png_set_IHDR(png, info, side, side, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    set_fast_compression(png);
    png_write_info(png, info);
    for (y = -IMG_QUIET; y < code->width + IMG_QUIET; y++) {
        /* Quiet rows are all light: packing the first one of each band is enough. */
        if (y == -IMG_QUIET || (y >= 0 && y <= code->width))
            pack_row(code, y < code->width ? y : -1, scale, row, row_bytes);
        for (s = 0; s < scale; s++)
            png_write_row(png, row);
    }
    png_write_end(png, NULL);
    return GS_OK;
}

int gs_qr_png(const gs_qr_t *qr, int scale, gs_buf_t *out)
{
    png_structp png = NULL;
    png_infop info = NULL;
    png_bytep row = NULL;
    png_sink_t sink = {out, GS_OK};
    size_t start, row_bytes;
    int rc;

    if (qr == NULL || out == NULL || scale < 1 || scale > PNG_MAX_SCALE)
        return GS_EINVAL;
    start = out->len;
    row_bytes = ((size_t)(qr->code->width + 2 * IMG_QUIET) * (size_t)scale + 7) / 8;
    row = malloc(row_bytes);
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_on_error, png_on_warning);
    if (png)
        info = png_create_info_struct(png);
    if (row == NULL || png == NULL || info == NULL) {
        rc = GS_ENOMEM;
        goto out;
    }
    png_set_write_fn(png, &sink, png_sink_write, png_sink_flush);
    rc = write_png(png, info, qr->code, scale, row, row_bytes);
    if (rc != GS_OK && sink.err != GS_OK)
        rc = sink.err;
out:
    if (rc != GS_OK)
        buf_truncate(out, start);
    png_destroy_write_struct(&png, &info);
    free(row);
    return rc;
}

/* ---- SVG --------------------------------------------------------------------------------- */

/* Writes v in decimal at p; returns the end. */
static char *put_uint(char *p, unsigned v)
{
    char digits[12];
    int n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = digits[--n];
    return p;
}

/* One subpath per horizontal run of dark modules on row y. */
static int svg_row(const QRcode *code, int y, gs_buf_t *out)
{
    char cmd[64], *p;
    int x = 0, run, err;
    while (x < code->width) {
        if (!is_dark(code, x, y)) {
            x++;
            continue;
        }
        for (run = 1; is_dark(code, x + run, y); run++)
            ;
        /* "M<x> <y>h<run>v1h-<run>z", built by hand: a v40 code has thousands of runs
         * and printf-style formatting was most of the SVG's cost. */
        p = cmd;
        *p++ = 'M';
        p = put_uint(p, (unsigned)(x + IMG_QUIET));
        *p++ = ' ';
        p = put_uint(p, (unsigned)(y + IMG_QUIET));
        *p++ = 'h';
        p = put_uint(p, (unsigned)run);
        memcpy(p, "v1h-", 4);
        p = put_uint(p + 4, (unsigned)run);
        *p++ = 'z';
        err = gs_buf_append(out, cmd, (size_t)(p - cmd));
        if (err)
            return err;
        x += run;
    }
    return GS_OK;
}

int gs_qr_svg(const gs_qr_t *qr, gs_buf_t *out)
{
    size_t start;
    int side, y, rc;

    if (qr == NULL || out == NULL)
        return GS_EINVAL;
    start = out->len;
    side = qr->code->width + 2 * IMG_QUIET;
    rc = gs_buf_printf(out,
                       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                       "shape-rendering=\"crispEdges\">\n"
                       "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n"
                       "<path fill=\"#000000\" d=\"",
                       side, side, side, side);
    for (y = 0; rc == GS_OK && y < qr->code->width; y++)
        rc = svg_row(qr->code, y, out);
    if (rc == GS_OK)
        rc = gs_buf_puts(out, "\"/>\n</svg>\n");
    if (rc != GS_OK)
        buf_truncate(out, start);
    return rc;
}

/* ---- terminal ------------------------------------------------------------------------------ */

/* Terminals mostly draw light text on a dark background, and a glyph is painted in the
 * text colour. So LIGHT modules (and the quiet zone) are the ones drawn, with blocks,
 * and dark modules are spaces showing the dark background: the code reads dark on
 * light, as scanners want. On a light-themed terminal the same text shows inverted.
 * Each line carries two module rows: the upper half block is the top row, the lower
 * half block the bottom one. Past the last quiet row nothing is drawn. */
static const char *term_glyph(int top_light, int bottom_light)
{
    if (top_light && bottom_light)
        return "\xe2\x96\x88"; /* U+2588 FULL BLOCK */
    if (top_light)
        return "\xe2\x96\x80"; /* U+2580 UPPER HALF BLOCK */
    if (bottom_light)
        return "\xe2\x96\x84"; /* U+2584 LOWER HALF BLOCK */
    return " ";
}

static int term_line(const QRcode *code, int y, gs_buf_t *out)
{
    char line[(177 + 2 * TERM_QUIET) * 3 + 2]; /* version 40 at most, 3 bytes a glyph */
    int last = code->width + TERM_QUIET;       /* one past the last module row drawn */
    size_t len = 0;
    int x, top, bottom;
    for (x = -TERM_QUIET; x < code->width + TERM_QUIET; x++) {
        const char *glyph;
        top = !is_dark(code, x, y);
        bottom = y + 1 < last && !is_dark(code, x, y + 1);
        glyph = term_glyph(top, bottom);
        while (*glyph)
            line[len++] = *glyph++;
    }
    line[len++] = '\n';
    return gs_buf_append(out, line, len);
}

int gs_qr_term(const gs_qr_t *qr, gs_buf_t *out)
{
    size_t start;
    int y, rc = GS_OK;

    if (qr == NULL || out == NULL)
        return GS_EINVAL;
    start = out->len;
    for (y = -TERM_QUIET; rc == GS_OK && y < qr->code->width + TERM_QUIET; y += 2)
        rc = term_line(qr->code, y, out);
    if (rc != GS_OK)
        buf_truncate(out, start);
    return rc;
}
