/* Deterministic synthetic retail customers (`mdm synth`).
 *
 * People live in households (shared address, home phone and usually last name) and
 * appear in up to five source systems, each with its own column layout, id scheme and
 * formatting habits:
 *   crm.csv       customer_id first_name middle_name last_name email phone street city state
 *                 zip birth_date(YYYY-MM-DD) gender
 *   loyalty.csv   member_no full_name email mobile dob(MM/DD/YYYY) postcode loyalty_id
 *   commerce.csv  account_id given_name family_name email_address phone_number ship_line1
 *                 ship_line2 ship_city ship_region ship_postal ship_country birthday(YYYYMMDD)
 *   erp.csv       cust_no name("LAST, First") address city state zip phone tax_id
 *   pos.csv       ref first last phone zip email
 * plus truth.csv (source,record_id,person_id) and households.csv (person_id,household_id:
 * who lived together). Records carry realistic errors: typos
 * (sometimes two in a field, and "sloppy" records where every error is three times as
 * likely, so several meet in one record), nicknames, accents dropped or transliterated
 * (Müller as Mueller or Muller; the ERP and the tills are ASCII-only), first/last
 * swapped, the ERP's one name field family name first with or without a comma
 * ("MUELLER, HANS", "MUELLER HANS"), married, maiden and hyphenated names, old
 * addresses and home phones after a move, missing fields (a few records without a last
 * name), phone and email formatting variants, twins (same birth date, address and
 * phone), sons named after their fathers (Jr/II/III, the father sometimes Sr; the
 * suffix typed into the last-name or full-name field, or left out), a household's shared
 * home phone and family e-mail, a relative's mobile given instead of one's own, values
 * shared by unrelated people (a store phone typed at the till, "noemail@..."), and
 * several duplicates of one person inside a source. An error rate r turns a base
 * probability p into 1 - (1 - p)^r (r independent chances), so rates up to 5 stay
 * meaningful. Rows are shuffled and record ids carry no information about the person.
 *
 * The same (people, seed) always gives byte-identical files. Single-threaded; about a
 * million people in a few seconds. */
#ifndef MDM_MATCHING_SYNTH_H
#define MDM_MATCHING_SYNTH_H

#include "common/err.h"

#include <stdint.h>

typedef struct mdm_synth_opts {
    long people;         /* number of distinct people (>= 1) */
    uint64_t seed;       /* RNG seed */
    const char *out_dir; /* created if missing */
    double error_rate;   /* scales every error probability; 1.0 = default mix */
    double dup_rate;     /* probability of one more record of a person inside a source */
} mdm_synth_opts;

typedef struct mdm_synth_stats {
    long people, households, records;
    long per_source[5];
} mdm_synth_stats;

/* Names of the five sources, in file order. */
extern const char *const mdm_synth_sources[5];

/* Sets the defaults (error_rate 1, dup_rate 0.2, seed 1). */
void mdm_synth_defaults(mdm_synth_opts *o);

/* Writes the five source files, truth.csv and households.csv into o->out_dir. MDM_EINVAL for bad
 * options, MDM_EIO (naming the file) when a file cannot be written. */
mdm_status mdm_synth_write(const mdm_synth_opts *o, mdm_synth_stats *stats, mdm_err *err);

#endif
