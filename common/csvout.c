/* CSV fields for spreadsheets; see common/csvout.h. */
#include "common/csvout.h"

#include <string.h>

static bool formula_start(char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

bool mdm_csvout_risky(const char *s)
{
    /* a value that itself starts with the quote a reader would strip gets one too, so
     * the neutralization stays reversible */
    return s && (formula_start(s[0]) || (s[0] == '\'' && (formula_start(s[1]) || s[1] == '\'')));
}

void mdm_csvout_field(mdm_buf *buf, const char *s)
{
    if (!s)
        return;
    bool risky = mdm_csvout_risky(s);
    size_t n = strlen(s);
    /* spaces at either end are quoted so that no reader trims them */
    if (!risky && !s[strcspn(s, ",\"\r\n")] && s[0] != ' ' && (!n || s[n - 1] != ' ')) {
        mdm_buf_puts(buf, s);
        return;
    }
    mdm_buf_putc(buf, '"');
    if (risky)
        mdm_buf_putc(buf, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            mdm_buf_putc(buf, '"');
        mdm_buf_putc(buf, *p);
    }
    mdm_buf_putc(buf, '"');
}

void mdm_csvout_fput(FILE *f, const char *s)
{
    if (!s)
        return;
    mdm_buf b = {0};
    mdm_csvout_field(&b, s);
    if (b.len)
        fwrite(b.data, 1, b.len, f);
    mdm_buf_free(&b);
}
