/* libFuzzer target for every normalizer on large inputs (issue 17 item 1). The other
 * targets cap their input at a few hundred bytes, which hid a phone parser whose time
 * grew with the square of the input length. Here a small input is blown up: the first
 * byte selects the normalizer, the next two give a length (up to the field's limit, and
 * up to 1 MiB for the phone parser, which bounds itself), and the rest is a pattern
 * repeated to that length. Invariants besides
 * "no crash, no leak, no UB": a call finishes within 250 ms of CPU under the sanitizers
 * (the release target within the field limits is 1 ms, tests/bench/bench_normalize_caps.c),
 * and invalid UTF-8 is MDM_EINVAL for the text, name, email and phone normalizers. */
#include "tests/norm_caps.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mdm_norm *norm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || size > 256)
        return 0;
    if (!norm) {
        norm = mdm_norm_new(NULL);
        if (!norm)
            abort();
    }
    caps_fn fn = (caps_fn)(data[0] % CAPS_N);
    size_t len = ((size_t)data[1] << 8 | data[2]) * 16 + 1; /* 1 .. 1 MiB */
    if (len > caps_fns[fn].cap) /* the entry paths hold every field to its limit */
        len = caps_fns[fn].cap;
    char *pattern = mdm_xstrndup((const char *)data + 3, size - 3);
    size_t pl = strlen(pattern);
    if (pl == 0) {
        free(pattern);
        return 0;
    }
    char *in = mdm_xmalloc(len + 1);
    size_t o = 0;
    while (o + pl <= len) {
        memcpy(in + o, pattern, pl);
        o += pl;
    }
    in[o] = '\0';
    double t = caps_run(norm, fn, in);
    if (t > 0.25) {
        fprintf(stderr, "normalizer %s took %.0f ms on %zu bytes\n", caps_fns[fn].name, t * 1e3, o);
        abort();
    }
    if (fn == CAPS_TEXT || fn == CAPS_NAME || fn == CAPS_EMAIL || fn == CAPS_PHONE) {
        mdm_buf d = {0}, k = {0};
        if (!mdm_norm_utf8_valid(in, o) && mdm_norm_text(norm, in, &d, &k, NULL) != MDM_EINVAL)
            abort();
        mdm_buf_free(&d);
        mdm_buf_free(&k);
    }
    free(in);
    free(pattern);
    return 0;
}
