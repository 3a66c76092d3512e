/* Tiny TSV reader for table-driven unit tests (tests/data/ files).
 *
 * Lines starting with '#' and empty lines are skipped. Fields are split at tabs; "\xNN",
 * "\t", "\n" and "\\" escapes are decoded so files can hold invalid UTF-8 and controls.
 * A file is looked up under $MDM_ROOT (tests/run.sh sets it) or the working directory. */
#ifndef MDM_TESTS_UNIT_NORM_TSV_H
#define MDM_TESTS_UNIT_NORM_TSV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TSV_MAX_FIELDS 16

typedef struct tsv {
    FILE *f;
    char path[512];
    int lineno;
    char line[4096];
    char *field[TSV_MAX_FIELDS];
    int nfield;
} tsv;

static inline int tsv_open(tsv *t, const char *rel)
{
    const char *root = getenv("MDM_ROOT");
    snprintf(t->path, sizeof t->path, "%s/%s", root && *root ? root : ".", rel);
    t->f = fopen(t->path, "r");
    t->lineno = 0;
    if (!t->f)
        fprintf(stderr, "cannot open %s\n", t->path);
    return t->f != NULL;
}

static inline void tsv_unescape(char *s)
{
    char *o = s;
    while (*s) {
        if (s[0] == '\\' && s[1] == 'x' && s[2] && s[3]) {
            char hex[3] = {s[2], s[3], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            s += 4;
        } else if (s[0] == '\\' && s[1] == 't') {
            *o++ = '\t';
            s += 2;
        } else if (s[0] == '\\' && s[1] == 'n') {
            *o++ = '\n';
            s += 2;
        } else if (s[0] == '\\' && s[1] == '\\') {
            *o++ = '\\';
            s += 2;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
}

/* Reads the next data row; returns its field count, or -1 at the end. Fields past the
 * last one present read as "". */
static inline int tsv_next(tsv *t)
{
    while (t->f && fgets(t->line, sizeof t->line, t->f)) {
        t->lineno++;
        size_t l = strlen(t->line);
        while (l && (t->line[l - 1] == '\n' || t->line[l - 1] == '\r'))
            t->line[--l] = '\0';
        if (l == 0 || t->line[0] == '#')
            continue;
        t->nfield = 0;
        char *p = t->line;
        for (;;) {
            char *tab = strchr(p, '\t');
            if (t->nfield < TSV_MAX_FIELDS)
                t->field[t->nfield++] = p;
            if (!tab)
                break;
            *tab = '\0';
            p = tab + 1;
        }
        for (int i = 0; i < t->nfield; i++)
            tsv_unescape(t->field[i]);
        int n = t->nfield;
        for (int i = n; i < TSV_MAX_FIELDS; i++)
            t->field[i] = (char *)"";
        return n;
    }
    return -1;
}

static inline void tsv_close(tsv *t)
{
    if (t->f)
        fclose(t->f);
    t->f = NULL;
}

#endif
