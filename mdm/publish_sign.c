/* Signatures of delivered messages: HMAC-SHA256 (libcrypto), hex and Standard Webhooks
 * base64 (mdm/publish_sign.h). */
#include "mdm/publish_sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* HMAC-SHA256(key, the n parts one after the other) into md; false on a library error. */
static bool hmac_sha256(const unsigned char *key, size_t keylen, const char *const *parts,
                        const size_t *lens, int n, unsigned char md[32])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    bool ok = ctx && EVP_MAC_init(ctx, key, keylen, params);
    for (int i = 0; ok && i < n; i++)
        ok = EVP_MAC_update(ctx, (const unsigned char *)parts[i], lens[i]);
    ok = ok && EVP_MAC_final(ctx, md, &outl, 32) && outl == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok)
        memset(md, 0, 32);
    return ok;
}

void mdm_publish_sign(const char *secret, long long timestamp, const char *body, size_t len,
                      char out[68])
{
    char ts[24];
    int tslen = snprintf(ts, sizeof ts, "%lld.", timestamp);
    unsigned char md[32];
    const char *parts[] = {ts, body};
    const size_t lens[] = {(size_t)tslen, len};
    hmac_sha256((const unsigned char *)secret, strlen(secret), parts, lens, 2, md);
    memcpy(out, "v1=", 3);
    for (unsigned int i = 0; i < 32; i++)
        snprintf(out + 3 + (size_t)2 * i, 3, "%02x", md[i]);
    out[67] = '\0';
}

void mdm_publish_sign_standard(const char *secret, const char *msg_id, long long timestamp,
                               const char *body, size_t len, char out[48])
{
    /* the key: the bytes a "whsec_" secret's base64 tail encodes, else the secret's own */
    unsigned char key[256];
    size_t keylen = 0;
    const char *b64 = strncmp(secret, "whsec_", 6) == 0 ? secret + 6 : NULL;
    size_t b64len = b64 ? strlen(b64) : 0;
    if (b64 && b64len > 0 && b64len % 4 == 0 && b64len / 4 * 3 <= sizeof key) {
        int n = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)b64len);
        if (n > 0) /* EVP_DecodeBlock counts the bytes of the padding too */
            keylen = (size_t)n - (b64[b64len - 1] == '=') - (b64[b64len - 2] == '=');
    }
    const unsigned char *k = keylen ? key : (const unsigned char *)secret;
    if (!keylen)
        keylen = strlen(secret);
    char ts[24];
    int tslen = snprintf(ts, sizeof ts, ".%lld.", timestamp);
    unsigned char md[32];
    const char *parts[] = {msg_id, ts, body};
    const size_t lens[] = {strlen(msg_id), (size_t)tslen, len};
    hmac_sha256(k, keylen, parts, lens, 3, md);
    snprintf(out, 4, "v1,");
    EVP_EncodeBlock((unsigned char *)out + 3, md, 32); /* 44 characters and a NUL */
    OPENSSL_cleanse(key, sizeof key);
}
