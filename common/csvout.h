/* CSV output safe for spreadsheets: RFC 4180 quoting plus the neutralization of cells a
 * spreadsheet would run as a formula (CSV injection, OWASP "CSV Injection").
 *
 * A cell whose first character is '=', '+', '-', '@', a tab or a carriage return is
 * written with a single quote in front and inside double quotes ("'=1+2"), so Excel,
 * LibreOffice and Google Sheets show it as text. So is a value that itself starts with a
 * single quote followed by one of those characters or another quote ("'+1" -> "''+1").
 * The quote is the only change and it is reversible: a reader that wants the original
 * value strips the first character of every cell that starts with "'" followed by '=',
 * '+', '-', '@', a tab, a carriage return or "'". Every export that writes customer data
 * as CSV (the consent audit, golden records) goes through here. */
#ifndef MDM_COMMON_CSVOUT_H
#define MDM_COMMON_CSVOUT_H

#include "common/mem.h"

#include <stdbool.h>
#include <stdio.h>

/* True when a spreadsheet would read s as a formula (see the file comment). */
bool mdm_csvout_risky(const char *s);

/* Appends s to buf as one CSV field: quoted when it holds a comma, quote, CR or LF, starts
 * or ends with a space, or is risky (quotes doubled), with "'" in front when risky. NULL appends
 * nothing (an empty field). */
void mdm_csvout_field(mdm_buf *buf, const char *s);

/* The same, written to f. */
void mdm_csvout_fput(FILE *f, const char *s);

#endif
