/* The steward UI's static files under /ui/ (from ui_dir, default api/ui): plain HTML,
 * CSS and JavaScript modules, no build step. Only flat file names of a few known types
 * are served (no path separators, no dot files), each with a strict
 * Content-Security-Policy; the API key the UI uses lives in the browser session only. */
#include "api/handlers.h"

#include <errno.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UI_MAX_FILE (2u << 20)

const char mdm_h_ui_doc[] =
    "{\"summary\": \"Steward UI files\", \"tags\": [\"ui\"], \"description\": \"Static files of"
    " the steward web UI (index.html, app.js, ...).\", \"responses\": {\"200\": {\"description\":"
    " \"the file\", \"content\": {\"text/html\": {}, \"text/javascript\": {}, \"text/css\":"
    " {}}, \"headers\": {\"ETag\": {\"description\": \"content hash; send it back in"
    " If-None-Match to get 304\", \"schema\": {\"type\": \"string\"}}}}, \"304\":"
    " {\"description\": \"unchanged since the ETag in If-None-Match\"}, \"302\":"
    " {\"description\": \"/ui to /ui/\", \"headers\": {\"Location\": {\"schema\": {\"type\":"
    " \"string\"}}}, \"content\": {\"text/plain\": {\"schema\": {\"type\": \"string\"}}}}}}";

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
};

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

static bool safe_name(const char *s)
{
    if (!s || !*s || s[0] == '.' || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* Sent with every /ui reply, errors and the redirect included: the UI runs only its
 * own scripts, is never framed (clickjacking), never sniffed, and leaks no referrer. */
static void security_headers(mdm_http_req *req)
{
    mdm_http_set_header(req, "X-Content-Type-Options", "nosniff");
    mdm_http_set_header(req, "X-Frame-Options", "DENY");
    mdm_http_set_header(req, "Referrer-Policy", "no-referrer");
    mdm_http_set_header(req, "Content-Security-Policy",
                        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' "
                        "data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                        "form-action 'self'; object-src 'none'");
}

/* A strong validator from the content (the first 128 bits of its SHA-256), so a browser
 * revalidating under "no-cache" gets 304 without the body until the file changes. */
static void etag_of(const char *buf, size_t n, char out[36])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    out[0] = 0;
    if (!EVP_Digest(buf, n, md, &len, EVP_sha256(), NULL) || len < 16)
        return;
    out[0] = '"';
    for (int i = 0; i < 16; i++)
        snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
    out[33] = '"';
    out[34] = 0;
}

void mdm_h_ui(mdm_http_req *req)
{
    security_headers(req);
    const char *file = mdm_http_param(req, "file");
    if (!file) {
        const char *path = mdm_http_route_of(req)->pattern;
        if (strcmp(path, "/ui") == 0) {
            mdm_http_set_header(req, "Location", "/ui/");
            mdm_http_reply_raw(req, MHD_HTTP_FOUND, "text/plain; charset=utf-8",
                               strdup("see /ui/\n"), 9);
            return;
        }
        file = "index.html";
    }
    mdm_err err = {0};
    const char *type = type_of(file);
    if (!safe_name(file) || !type) {
        mdm_err_set(&err, MDM_ENOTFOUND, "no such UI file");
        mdm_http_reply_problem(req, &err);
        return;
    }
    const mdm_config *cfg = mdm_http_config(req);
    const char *dir = cfg && cfg->ui_dir && *cfg->ui_dir ? cfg->ui_dir : "api/ui";
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        mdm_err_set(&err, errno == ENOENT ? MDM_ENOTFOUND : MDM_EIO, "no such UI file");
        mdm_http_reply_problem(req, &err);
        return;
    }
    char *buf = malloc(UI_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, UI_MAX_FILE + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > UI_MAX_FILE;
    fclose(f);
    if (bad) {
        free(buf);
        mdm_err_set(&err, MDM_EIO, "cannot read UI file");
        mdm_http_reply_problem(req, &err);
        return;
    }
    char etag[36];
    etag_of(buf, n, etag);
    mdm_http_set_header(req, "Cache-Control", "no-cache");
    if (*etag)
        mdm_http_set_header(req, "ETag", etag); /* If-None-Match: 304 (mdm_http_reply_raw) */
    mdm_http_reply_raw(req, MHD_HTTP_OK, type, buf, n);
}
