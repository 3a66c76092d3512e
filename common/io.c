/* Files named on the command line ("-" as standard input or output) and whole-stream reads. */
#include "common/io.h"

#include "common/mem.h"

#include <string.h>

bool mdm_io_is_std(const char *path)
{
    return path && strcmp(path, "-") == 0;
}

FILE *mdm_io_open(const char *path, const char *mode)
{
    if (mdm_io_is_std(path))
        return mode[0] == 'r' ? stdin : stdout;
    return fopen(path, mode);
}

int mdm_io_close(FILE *f)
{
    if (!f)
        return 0;
    if (f == stdin)
        return 0;
    if (f == stdout)
        return fflush(f) == 0 && !ferror(f) ? 0 : EOF;
    return fclose(f);
}

char *mdm_io_read_all(FILE *f, size_t max, size_t *len)
{
    mdm_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((max == 0 || b.len < max) && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        mdm_buf_append(&b, chunk, n);
    if (ferror(f)) {
        mdm_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.data ? mdm_buf_steal(&b) : mdm_xstrdup("");
}
