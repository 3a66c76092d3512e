/* Text probes for stewards and tests: `mdm compare` (string comparators) and
 * `mdm phonetic` (phonetic keys). Each works on its operands, or line by line on stdin
 * when there are none, echoing the input next to the result so the output can be pasted
 * into a spreadsheet. `mdm phonetic` keys the normalizer's ASCII comparison form
 * (mdm_norm_text), as the matching engine does: Müller keys as muller, Иванов as ivanov.
 * Bad input (invalid UTF-8, a malformed line, an empty value) stops
 * with a message naming the operand or line, and exit code 2. */
#include "api/cli.h"
#include "common/mem.h"
#include "matching/compare.h"
#include "matching/normalize.h"
#include "matching/phonetic.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fails with MDM_EINVAL when s is not UTF-8; where names the operand or line. */
static int check_utf8(const char *command, const char *s, const char *where)
{
    size_t bad = 0;
    if (mdm_cmp_utf8_valid(s, &bad))
        return 0;
    mdm_err err;
    mdm_err_set(&err, MDM_EINVAL, "%s: invalid UTF-8 at byte %zu", where, bad + 1);
    return mdm_cli_fail(command, &err);
}

/* Reads one line from in into *line (without the line break, CR LF accepted). Returns
 * 0 at end of input, 1 otherwise. */
static int read_line(FILE *in, char **line, size_t *cap)
{
    ssize_t n = getline(line, cap, in);
    if (n < 0)
        return 0;
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
        (*line)[--n] = 0;
    return 1;
}

/* Parses "--NAME VALUE" (the only option both commands take). Returns the index of the
 * first operand, or -1 after reporting a usage error. */
static int parse_one_option(int argc, char **argv, const char *name, const char **value)
{
    const struct option opts[] = {
        {name, required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    /* "+" stops at the first operand, so values such as "-x" can be compared after "--" */
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c != 'o') {
            mdm_cli_usage_error(argv[0], "unknown or incomplete option \"%s\"", argv[optind - 1]);
            return -1;
        }
        *value = optarg;
    }
    if (!*value) {
        mdm_cli_usage_error(argv[0], "--%s is required", name);
        return -1;
    }
    return optind;
}

static void list_names(FILE *out, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        fprintf(out, "%s%s", i ? ", " : "", names[i]);
}

int mdm_cli_compare(int argc, char **argv)
{
    const char *name = NULL;
    int rest = parse_one_option(argc, argv, "comparator", &name);
    if (rest < 0)
        return mdm_status_exit(MDM_EINVAL);
    mdm_cmp_sim_fn fn = mdm_cmp_by_name(name);
    if (!fn) {
        fprintf(stderr, "mdm compare: unknown comparator \"%s\" (one of: ", name);
        list_names(stderr, mdm_cmp_names);
        fputs(")\n", stderr);
        return mdm_status_exit(MDM_EINVAL);
    }
    int operands = argc - rest;
    if (operands == 2) {
        int rc = check_utf8("compare", argv[rest], "operand A");
        if (!rc)
            rc = check_utf8("compare", argv[rest + 1], "operand B");
        if (rc)
            return rc;
        printf("%.6f\n", fn(argv[rest], argv[rest + 1]));
        return 0;
    }
    if (operands != 0)
        return mdm_cli_usage_error("compare", "expected two values A B, or none to read "
                                              "A<TAB>B lines from stdin");
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (long lineno = 1; read_line(stdin, &line, &cap); lineno++) {
        char where[48];
        snprintf(where, sizeof where, "stdin line %ld", lineno);
        char *tab = strchr(line, '\t');
        if (!tab || strchr(tab + 1, '\t')) {
            mdm_err err;
            mdm_err_set(&err, MDM_EINVAL, "%s: expected two fields A<TAB>B, found %s", where,
                        tab ? "more" : "one");
            rc = mdm_cli_fail("compare", &err);
            break;
        }
        *tab = 0;
        if ((rc = check_utf8("compare", line, where)) != 0 ||
            (rc = check_utf8("compare", tab + 1, where)) != 0)
            break;
        printf("%s\t%s\t%.6f\n", line, tab + 1, fn(line, tab + 1));
    }
    free(line);
    if (fflush(stdout) != 0 && rc == 0) {
        perror("mdm compare: stdout");
        rc = mdm_status_exit(MDM_EIO);
    }
    return rc;
}

static const char *const phonetic_names[] = {"soundex", "nysiis", "metaphone", "double_metaphone",
                                             NULL};

/* Prints the key(s) of value's comparison form, after checking it; echo prefixes
 * "value<TAB>". form is scratch space kept between calls. */
static int phonetic_one(mdm_norm *norm, const char *algorithm, const char *value, const char *where,
                        int echo, mdm_buf *form)
{
    int rc = check_utf8("phonetic", value, where);
    if (rc)
        return rc;
    mdm_err err;
    if (!value[0]) {
        mdm_err_set(&err, MDM_EINVAL, "%s: empty value", where);
        return mdm_cli_fail("phonetic", &err);
    }
    if (mdm_norm_text(norm, value, NULL, form, &err) != MDM_OK) {
        mdm_err_detail(&err, "%s", where);
        return mdm_cli_fail("phonetic", &err);
    }
    const char *ascii = form->data ? form->data : "";
    size_t cap = strlen(ascii) * 3 + 8; /* keys are at most twice the letters */
    char *key = mdm_xmalloc(cap), *alt = NULL;
    mdm_phon_fn fn = mdm_phon_by_name(algorithm);
    if (fn) {
        fn(ascii, key, cap);
    } else {
        alt = mdm_xmalloc(cap);
        mdm_phon_double_metaphone(ascii, key, alt, cap);
    }
    if (echo)
        printf("%s\t", value);
    if (alt)
        printf("%s\t%s\n", key, alt);
    else
        printf("%s\n", key);
    free(key);
    free(alt);
    return 0;
}

int mdm_cli_phonetic(int argc, char **argv)
{
    const char *algorithm = NULL;
    int rest = parse_one_option(argc, argv, "algorithm", &algorithm);
    if (rest < 0)
        return mdm_status_exit(MDM_EINVAL);
    int known = 0;
    for (size_t i = 0; phonetic_names[i]; i++)
        known |= strcmp(phonetic_names[i], algorithm) == 0;
    if (!known) {
        fprintf(stderr, "mdm phonetic: unknown algorithm \"%s\" (one of: ", algorithm);
        list_names(stderr, phonetic_names);
        fputs(")\n", stderr);
        return mdm_status_exit(MDM_EINVAL);
    }
    mdm_err err;
    mdm_norm *norm = mdm_norm_new(&err);
    if (!norm)
        return mdm_cli_fail("phonetic", &err);
    mdm_buf form = {0};
    int rc = 0;
    if (rest < argc) {
        for (int i = rest; i < argc && rc == 0; i++) {
            char where[48];
            snprintf(where, sizeof where, "value %d", i - rest + 1);
            rc = phonetic_one(norm, algorithm, argv[i], where, 0, &form);
        }
    } else {
        char *line = NULL;
        size_t cap = 0;
        for (long lineno = 1; rc == 0 && read_line(stdin, &line, &cap); lineno++) {
            char where[48];
            snprintf(where, sizeof where, "stdin line %ld", lineno);
            rc = phonetic_one(norm, algorithm, line, where, 1, &form);
        }
        free(line);
    }
    mdm_buf_free(&form);
    mdm_norm_free(norm);
    if (fflush(stdout) != 0 && rc == 0) {
        perror("mdm phonetic: stdout");
        rc = mdm_status_exit(MDM_EIO);
    }
    return rc;
}
