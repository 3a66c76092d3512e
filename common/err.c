/* The status table and mdm_err helpers. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct status_row {
    int http;
    int exit_code;
    const char *title;
    const char *name;
} status_row;

static const status_row status_table[] = {
#define MDM_X_ROW(name, http, exitc, title) {http, exitc, title, #name},
    MDM_STATUS_LIST(MDM_X_ROW)
#undef MDM_X_ROW
};

static const status_row *row_of(mdm_status s)
{
    if ((int)s < 0 || s >= MDM_STATUS_COUNT)
        s = MDM_EINTERNAL;
    return &status_table[s];
}

static void vset(mdm_err *err, mdm_status code, const char *fmt, va_list ap)
{
    err->code = code;
    err->sqlstate[0] = '\0';
    err->field[0] = '\0';
    err->detail[0] = '\0';
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

mdm_status mdm_err_set(mdm_err *err, mdm_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vset(err, code, fmt, ap);
        va_end(ap);
    }
    return code;
}

mdm_status mdm_err_set_field(mdm_err *err, mdm_status code, const char *field, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vset(err, code, fmt, ap);
        va_end(ap);
        snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    }
    return code;
}

void mdm_err_detail(mdm_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
}

void mdm_err_clear(mdm_err *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

int mdm_status_http(mdm_status s)
{
    return row_of(s)->http;
}

int mdm_status_exit(mdm_status s)
{
    return row_of(s)->exit_code;
}

const char *mdm_status_title(mdm_status s)
{
    return row_of(s)->title;
}

const char *mdm_status_name(mdm_status s)
{
    static char names[MDM_STATUS_COUNT][32];
    static int ready;
    /* Built once; callers may race on the first call but write identical bytes. */
    if (!ready) {
        for (int i = 0; i < MDM_STATUS_COUNT; i++) {
            const char *n = status_table[i].name + 4; /* skip "MDM_" */
            size_t k = 0;
            for (; k < sizeof names[i] - 1 && n[k]; k++)
                names[i][k] = (char)((n[k] >= 'A' && n[k] <= 'Z') ? n[k] + 32 : n[k]);
            names[i][k] = '\0';
        }
        ready = 1;
    }
    if ((int)s < 0 || s >= MDM_STATUS_COUNT)
        s = MDM_EINTERNAL;
    return names[s];
}
