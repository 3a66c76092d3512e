/* "-" as standard input or output for files named on the command line. */
#include "common/io.h"

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
