/* Files named on the command line, where "-" means standard input or output.
 *
 * Every CLI option or argument that names a file to read or write (load FILE, link
 * INPUT, --out, --output) goes through these two calls, so "-" works the same way
 * everywhere. Not thread-safe with respect to stdin/stdout (nothing else reads or writes
 * them concurrently in mdm). */
#ifndef MDM_COMMON_IO_H
#define MDM_COMMON_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* True when path is "-". */
bool mdm_io_is_std(const char *path);

/* fopen(path, mode), except that "-" gives stdin (mode starting with 'r') or stdout.
 * Returns NULL with errno set when the file cannot be opened. */
FILE *mdm_io_open(const char *path, const char *mode);

/* Closes what mdm_io_open returned: stdin and stdout are flushed, not closed. Returns 0,
 * or EOF when buffered data could not be written (errno set). NULL is a no-op. */
int mdm_io_close(FILE *f);

/* Reads f to its end into a new NUL-terminated buffer (owned by the caller; "" for an
 * empty stream); *len receives the byte count. With max > 0 reading stops once max bytes
 * or more are held. NULL when a read fails. Does not close f. */
char *mdm_io_read_all(FILE *f, size_t max, size_t *len);

#endif
