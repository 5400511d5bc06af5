/* replay.c — runs LLVMFuzzerTestOneInput over every file in the folders (or files)
 * given as arguments, so that a fuzz corpus runs as an ordinary test with any
 * compiler and no libFuzzer. Each input is passed in a buffer of exactly its size,
 * so that the sanitizers see any read past the end. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a whole file into a new buffer of exactly its size (NULL for 0 bytes). */
static int read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    int ok = 0;
    *data = NULL;
    *size = 0;
    if (f == NULL)
        return -1;
    if (fstat(fileno(f), &st) == 0 && st.st_size >= 0) {
        *size = (size_t)st.st_size;
        *data = *size ? malloc(*size) : NULL;
        ok = *size == 0 || (*data != NULL && fread(*data, 1, *size, f) == *size);
    }
    fclose(f);
    if (!ok) {
        free(*data);
        *data = NULL;
        return -1;
    }
    return 0;
}

static int run_file(const char *path)
{
    uint8_t *data;
    size_t size;
    if (read_file(path, &data, &size)) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

/* Runs every regular file in dir; returns how many ran, or -1 on a read error. */
static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL) {
        fprintf(stderr, "replay: %s: cannot open folder\n", dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL && n >= 0) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        n = run_file(path) == 0 ? n + 1 : -1;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    int total = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FOLDER|FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int n;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: no such file or folder\n", argv[i]);
            return 1;
        }
        n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0)
            return 1;
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    printf("replay: %d inputs ran\n", total);
    return 0;
}
