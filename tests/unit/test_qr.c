/* test_qr.c — QR codes: the error-correction level chosen for a payload size, the size
 * limit, PNGs that zbar reads back byte for byte, the SVG's single path and the
 * terminal rendering, each checked module by module against libqrencode. */
#include "reservation.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <png.h>
#include <qrencode.h>

#define QUIET      4 /* PNG and SVG */
#define TERM_QUIET 2
#define PNG_SCALE  4

/* ---- helpers ------------------------------------------------------------------------------- */

/* A JSON-like ASCII document of exactly len bytes (len >= 16), padded with spaces
 * before the closing brackets, the way a signandpay document looks. */
static char *json_payload(size_t len)
{
    char *p = malloc(len + 1);
    char item[96];
    size_t pos, n;
    unsigned i;
    assert_non_null(p);
    assert_true(len >= 16);
    pos = (size_t)snprintf(p, len + 1, "{\"items\":[");
    for (i = 0;; i++) {
        n = (size_t)snprintf(
            item, sizeof item, "%s{\"n\":%u,\"node\":\"%08x%08x\",\"amount\":\"%u.%07u\"}",
            i ? "," : "", i, i * 2654435761u, ~i * 40503u, i % 97, (i * 7919u) % 10000000u);
        if (pos + n + 2 > len)
            break;
        memcpy(p + pos, item, n);
        pos += n;
    }
    memset(p + pos, ' ', len - 2 - pos);
    memcpy(p + len - 2, "]}", 3);
    return p;
}

/* Bytes 0..255 over and over, the worst case for anything that treats data as text. */
static char *binary_payload(size_t len)
{
    char *p = malloc(len);
    size_t i;
    assert_non_null(p);
    for (i = 0; i < len; i++)
        p[i] = (char)(unsigned char)(i * 131 + 7);
    return p;
}

static gs_qr_t *encode(const void *data, size_t len)
{
    gs_qr_t *qr = NULL;
    gs_diag_t diag = {{0}};
    int rc = gs_qr_encode(data, len, &qr, &diag);
    if (rc != GS_OK)
        fail_msg("gs_qr_encode(%zu bytes): %s: %s", len, gs_err_name(rc), diag.msg);
    assert_non_null(qr);
    return qr;
}

/* The same symbol straight from libqrencode, to compare renderings module by module. */
static QRcode *reference(const void *data, size_t len, char level)
{
    QRecLevel lv = level == 'H'   ? QR_ECLEVEL_H
                   : level == 'Q' ? QR_ECLEVEL_Q
                   : level == 'M' ? QR_ECLEVEL_M
                                  : QR_ECLEVEL_L;
    QRcode *code = QRcode_encodeData((int)len, data, 0, lv);
    assert_non_null(code);
    return code;
}

static int ref_dark(const QRcode *code, int x, int y)
{
    if (x < 0 || y < 0 || x >= code->width || y >= code->width)
        return 0;
    return code->data[y * code->width + x] & 1;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Runs zbarimg on a file and collects everything it writes to stdout. Returns its exit
 * status (pclose), or -1 when it could not be run or its output not kept. */
static int zbar_decode(const char *path, gs_buf_t *out)
{
    const char *zbar = getenv("GS_ZBARIMG");
    char cmd[4096], chunk[4096];
    FILE *p;
    size_t n;
    int status, kept = 1;

    if (zbar == NULL || *zbar == '\0')
        zbar = "zbarimg";
    if (strchr(zbar, '\'') != NULL)
        return -1;
    /* stderr is dropped: zbar built with D-Bus complains about the missing bus. */
    n = (size_t)snprintf(cmd, sizeof cmd, "'%s' --raw -q -Sbinary '%s' 2>/dev/null", zbar, path);
    if (n >= sizeof cmd)
        return -1;
    p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        kept = kept && gs_buf_append(out, chunk, n) == GS_OK;
    status = pclose(p);
    return kept ? status : -1;
}

/* Writes data as a PNG at scale PNG_SCALE, checks its header, decodes it with zbar and
 * compares. With -Sbinary zbarimg 0.23.92 writes the symbol's bytes and nothing else
 * (no newline after them, unlike its text mode), so the output must equal the payload
 * exactly: same length, same bytes. */
static void assert_png_round_trip(const char *data, size_t len)
{
    char path[] = "/tmp/gs_test_qr_XXXXXX";
    gs_buf_t png, got;
    gs_qr_t *qr = encode(data, len);
    uint32_t side = (uint32_t)(17 + 4 * gs_qr_version(qr) + 2 * QUIET) * PNG_SCALE;
    ssize_t written;
    int fd, status;

    gs_buf_init(&png, 64 * 1024 * 1024);
    gs_buf_init(&got, 64 * 1024);
    assert_int_equal(gs_qr_png(qr, PNG_SCALE, &png), GS_OK);
    assert_true(png.len > 33);
    assert_memory_equal(png.data, "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
    assert_int_equal(be32((unsigned char *)png.data + 16), side);
    assert_int_equal(be32((unsigned char *)png.data + 20), side);
    assert_int_equal(png.data[24], 1); /* bit depth */
    assert_int_equal(png.data[25], 0); /* grayscale */

    fd = mkstemp(path);
    assert_true(fd >= 0);
    written = write(fd, png.data, png.len);
    status = close(fd) == 0 && written == (ssize_t)png.len ? zbar_decode(path, &got) : -1;
    assert_int_equal(unlink(path), 0);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("zbarimg found no QR code in the %zu-byte payload's PNG (status %d)", len, status);

    if (got.len != len)
        fail_msg("%zu-byte payload at level %c, version %d: zbar returned %zu bytes", len,
                 gs_qr_level(qr), gs_qr_version(qr), got.len);
    assert_memory_equal(got.data, data, len);
    gs_buf_free(&png);
    gs_buf_free(&got);
    gs_qr_free(qr);
}

/* ---- encoding ------------------------------------------------------------------------------ */

static void test_qr_picks_highest_level_that_fits(void **state)
{
    static const struct {
        size_t len;
        char level;
        int version; /* 0: not checked */
    } cases[] = {
        {1, 'H', 1},    {1273, 'H', 40}, {1274, 'Q', 0}, {1663, 'Q', 40},
        {1664, 'M', 0}, {2331, 'M', 40}, {2332, 'L', 0}, {2953, 'L', 40},
    };
    char *data = malloc(GS_QR_MAX_BYTES);
    size_t i;
    (void)state;
    assert_non_null(data);
    memset(data, 'a', GS_QR_MAX_BYTES);
    for (i = 0; i < GS_ARRAY_SIZE(cases); i++) {
        gs_qr_t *qr = encode(data, cases[i].len);
        if (gs_qr_level(qr) != cases[i].level)
            fail_msg("%zu bytes: level %c, want %c", cases[i].len, gs_qr_level(qr), cases[i].level);
        if (cases[i].version)
            assert_int_equal(gs_qr_version(qr), cases[i].version);
        gs_qr_free(qr);
    }
    free(data);
}

static void test_qr_refuses_over_2953_bytes(void **state)
{
    static const size_t sizes[] = {GS_QR_MAX_BYTES + 1, 100000};
    char *data = calloc(1, 100000);
    size_t i;
    (void)state;
    assert_non_null(data);
    for (i = 0; i < GS_ARRAY_SIZE(sizes); i++) {
        gs_qr_t *qr = (gs_qr_t *)data; /* must be reset to NULL */
        gs_diag_t diag = {{0}};
        char size[32];
        assert_int_equal(gs_qr_encode(data, sizes[i], &qr, &diag), GS_ETOOBIG);
        assert_null(qr);
        snprintf(size, sizeof size, "%zu", sizes[i]);
        assert_non_null(strstr(diag.msg, size));
        assert_non_null(strstr(diag.msg, "2953"));
    }
    free(data);
}

static void test_qr_refuses_empty_payload(void **state)
{
    gs_qr_t *qr = NULL;
    gs_diag_t diag = {{0}};
    (void)state;
    assert_int_equal(gs_qr_encode("", 0, &qr, &diag), GS_EINVAL);
    assert_null(qr);
    assert_true(diag.msg[0] != '\0');
}

static void test_qr_accessors_and_free_accept_null(void **state)
{
    (void)state;
    assert_int_equal(gs_qr_version(NULL), 0);
    assert_int_equal(gs_qr_level(NULL), '\0');
    gs_qr_free(NULL);
}

/* ---- PNG ------------------------------------------------------------------------------------ */

static void test_qr_png_decodes_with_zbar_byte_for_byte(void **state)
{
    static const size_t boundaries[] = {1273, 1274, 1663, 1664, 2331, 2332};
    static const char hello[] = "gridstor: sign and pay";
    static const char newline[] = "ends with a newline\n";
    char *doc;
    size_t i;
    (void)state;

    assert_png_round_trip(hello, strlen(hello));
    assert_png_round_trip(newline, strlen(newline));
    doc = json_payload(GS_QR_MAX_BYTES);
    assert_png_round_trip(doc, GS_QR_MAX_BYTES);
    free(doc);
    for (i = 0; i < GS_ARRAY_SIZE(boundaries); i++) {
        doc = json_payload(boundaries[i]);
        assert_png_round_trip(doc, boundaries[i]);
        free(doc);
    }
    doc = binary_payload(600);
    assert_png_round_trip(doc, 600);
    free(doc);
}

/* Reads the PNG back with libpng and checks every pixel against the module it shows. */
static void assert_png_pixels(const char *data, size_t len, int scale)
{
    gs_qr_t *qr = encode(data, len);
    QRcode *ref = reference(data, len, gs_qr_level(qr));
    int side = (ref->width + 2 * QUIET) * scale, x, y;
    png_image img;
    png_bytep px;
    gs_buf_t b;

    gs_buf_init(&b, 64 * 1024 * 1024);
    assert_int_equal(gs_qr_png(qr, scale, &b), GS_OK);
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_memory(&img, b.data, b.len));
    assert_int_equal(img.width, side);
    assert_int_equal(img.height, side);
    img.format = PNG_FORMAT_GRAY;
    px = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(px);
    assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    for (y = 0; y < side; y++)
        for (x = 0; x < side; x++) {
            int dark = ref_dark(ref, x / scale - QUIET, y / scale - QUIET);
            if (px[(size_t)y * (size_t)side + (size_t)x] != (dark ? 0 : 255))
                fail_msg("scale %d: pixel (%d,%d) is %u, module (%d,%d) is %s", scale, x, y,
                         px[(size_t)y * (size_t)side + (size_t)x], x / scale - QUIET,
                         y / scale - QUIET, dark ? "dark" : "light");
        }
    free(px);
    gs_buf_free(&b);
    QRcode_free(ref);
    gs_qr_free(qr);
}

static void test_qr_png_pixels_match_modules_at_every_scale(void **state)
{
    char *doc = json_payload(100);
    int scale;
    (void)state;
    for (scale = 1; scale <= 32; scale++)
        assert_png_pixels(doc, 100, scale);
    free(doc);
    doc = binary_payload(GS_QR_MAX_BYTES);
    assert_png_pixels(doc, GS_QR_MAX_BYTES, 3);
    free(doc);
}

static void test_qr_png_validates_scale(void **state)
{
    static const int bad[] = {-1, 0, 33};
    gs_qr_t *qr = encode("x", 1);
    gs_buf_t b;
    size_t i;
    (void)state;
    gs_buf_init(&b, 64 * 1024 * 1024);
    for (i = 0; i < GS_ARRAY_SIZE(bad); i++) {
        assert_int_equal(gs_qr_png(qr, bad[i], &b), GS_EINVAL);
        assert_int_equal(b.len, 0);
    }
    assert_int_equal(gs_qr_png(qr, 32, &b), GS_OK);
    assert_int_equal(be32((unsigned char *)b.data + 16), (21 + 2 * QUIET) * 32);
    gs_buf_free(&b);
    gs_qr_free(qr);
}

static void test_qr_png_leaves_buffer_as_it_was_when_full(void **state)
{
    gs_qr_t *qr = encode("a document", 10);
    gs_buf_t b;
    (void)state;
    gs_buf_init(&b, 100);
    assert_int_equal(gs_buf_puts(&b, "kept"), GS_OK);
    assert_int_equal(gs_qr_png(qr, 4, &b), GS_ETOOBIG);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "kept");
    gs_buf_free(&b);
    gs_qr_free(qr);
}

/* ---- SVG ------------------------------------------------------------------------------------ */

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle))
        n++;
    return n;
}

/* Fills marks from the path's "M x y h w v1 h-w z" runs and returns how many there are. */
static size_t svg_runs(const char *svg, int width, unsigned char *marks)
{
    const char *p = strstr(svg, " d=\"");
    size_t runs = 0;
    int x, y, w, back, used, i;
    assert_non_null(p);
    for (p += 4; *p != '"'; p += used, runs++) {
        used = 0;
        if (sscanf(p, "M%d %dh%dv1h-%dz%n", &x, &y, &w, &back, &used) != 4 || used == 0)
            fail_msg("unexpected path data at \"%.20s\"", p);
        assert_int_equal(w, back);
        assert_true(w >= 1 && x >= QUIET && x + w <= width + QUIET);
        assert_true(y >= QUIET && y < width + QUIET);
        for (i = 0; i < w; i++) {
            unsigned char *m = &marks[(y - QUIET) * width + x - QUIET + i];
            assert_int_equal(*m, 0); /* runs do not overlap */
            *m = 1;
        }
    }
    return runs;
}

static void test_qr_svg_has_one_path_and_viewbox(void **state)
{
    char *doc = json_payload(500);
    gs_qr_t *qr = encode(doc, 500);
    QRcode *ref = reference(doc, 500, gs_qr_level(qr));
    int width = 17 + 4 * gs_qr_version(qr), x, y;
    size_t maximal_runs = 0;
    unsigned char *marks = calloc((size_t)width * (size_t)width, 1);
    char viewbox[64];
    gs_buf_t b;
    (void)state;

    assert_non_null(marks);
    assert_int_equal(ref->width, width);
    gs_buf_init(&b, 16 * 1024 * 1024);
    assert_int_equal(gs_qr_svg(qr, &b), GS_OK);
    snprintf(viewbox, sizeof viewbox, "viewBox=\"0 0 %d %d\"", width + 2 * QUIET,
             width + 2 * QUIET);
    assert_non_null(strstr(b.data, viewbox));
    assert_non_null(strstr(b.data, "shape-rendering=\"crispEdges\""));
    assert_int_equal(count(b.data, "<svg"), 1);
    assert_int_equal(count(b.data, "<path"), 1);
    assert_int_equal(count(b.data, "<rect"), 1);
    assert_non_null(strstr(b.data, "fill=\"#ffffff\""));
    assert_string_equal(b.data + b.len - 7, "</svg>\n");

    /* The path covers exactly the dark modules, one subpath per maximal run. */
    for (y = 0; y < width; y++)
        for (x = 0; x < width; x++)
            maximal_runs += ref_dark(ref, x, y) && !ref_dark(ref, x - 1, y);
    assert_int_equal(svg_runs(b.data, width, marks), maximal_runs);
    for (y = 0; y < width; y++)
        for (x = 0; x < width; x++)
            if (marks[y * width + x] != ref_dark(ref, x, y))
                fail_msg("module (%d,%d) is %s in the SVG", x, y,
                         marks[y * width + x] ? "dark" : "light");

    gs_buf_free(&b);
    free(marks);
    QRcode_free(ref);
    gs_qr_free(qr);
    free(doc);
}

/* ---- terminal ------------------------------------------------------------------------------- */

#define FULL  "\xe2\x96\x88"
#define UPPER "\xe2\x96\x80"
#define LOWER "\xe2\x96\x84"

/* Reads one glyph: which halves are drawn (light). Returns its length in bytes. */
static size_t term_glyph(const char *p, int *top, int *bottom)
{
    *top = strncmp(p, FULL, 3) == 0 || strncmp(p, UPPER, 3) == 0;
    *bottom = strncmp(p, FULL, 3) == 0 || strncmp(p, LOWER, 3) == 0;
    if (*top || *bottom)
        return 3;
    if (*p != ' ')
        fail_msg("unexpected byte 0x%02x in terminal output", (unsigned char)*p);
    return 1;
}

/* Light modules and the quiet zone are drawn, dark modules are spaces; past the last
 * quiet row nothing is drawn. */
static int term_expect_light(const QRcode *ref, int x, int y)
{
    if (y >= ref->width + TERM_QUIET)
        return 0;
    return !ref_dark(ref, x, y);
}

static void test_qr_term_has_two_rows_per_line(void **state)
{
    static const size_t sizes[] = {1, 300, GS_QR_MAX_BYTES};
    size_t i;
    (void)state;
    for (i = 0; i < GS_ARRAY_SIZE(sizes); i++) {
        char *doc = binary_payload(sizes[i]);
        gs_qr_t *qr = encode(doc, sizes[i]);
        QRcode *ref = reference(doc, sizes[i], gs_qr_level(qr));
        int width = 17 + 4 * gs_qr_version(qr), side = width + 2 * TERM_QUIET;
        int lines = 0, x, top, bottom;
        const char *p;
        gs_buf_t b;

        gs_buf_init(&b, 16 * 1024 * 1024);
        assert_int_equal(gs_qr_term(qr, &b), GS_OK);
        assert_int_equal(count(b.data, "\n"), (side + 1) / 2);
        assert_int_equal(b.data[b.len - 1], '\n');
        for (p = b.data; *p; p++, lines++) {
            int y = 2 * lines - TERM_QUIET;
            for (x = -TERM_QUIET; x < width + TERM_QUIET; x++) {
                p += term_glyph(p, &top, &bottom);
                if (top != term_expect_light(ref, x, y) ||
                    bottom != term_expect_light(ref, x, y + 1))
                    fail_msg("line %d column %d: wrong glyph for modules (%d,%d),(%d,%d)", lines,
                             x + TERM_QUIET, x, y, x, y + 1);
            }
            assert_int_equal(*p, '\n');
        }
        assert_int_equal(lines, (side + 1) / 2);
        gs_buf_free(&b);
        QRcode_free(ref);
        gs_qr_free(qr);
        free(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qr_picks_highest_level_that_fits),
        cmocka_unit_test(test_qr_refuses_over_2953_bytes),
        cmocka_unit_test(test_qr_refuses_empty_payload),
        cmocka_unit_test(test_qr_accessors_and_free_accept_null),
        cmocka_unit_test(test_qr_png_decodes_with_zbar_byte_for_byte),
        cmocka_unit_test(test_qr_png_pixels_match_modules_at_every_scale),
        cmocka_unit_test(test_qr_png_validates_scale),
        cmocka_unit_test(test_qr_png_leaves_buffer_as_it_was_when_full),
        cmocka_unit_test(test_qr_svg_has_one_path_and_viewbox),
        cmocka_unit_test(test_qr_term_has_two_rows_per_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
