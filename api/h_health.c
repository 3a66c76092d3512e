/* /healthz (the process answers) and /readyz (the database answers and is migrated). */
#include "api/handlers.h"
#include "mdm/migrate.h"

#include <microhttpd.h>
#include <string.h>

const char mdm_h_healthz_doc[] =
    "{\"summary\": \"Liveness: the process is serving\", \"tags\": [\"operations\"],"
    " \"responses\": {\"200\": {\"description\": \"alive\", \"content\": {\"application/json\":"
    " {\"schema\": {\"type\": \"object\", \"properties\": {\"status\": {\"const\": \"ok\"}}}}}}}}";

void mdm_h_healthz(mdm_http_req *req)
{
    mdm_http_reply_json(req, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

const char mdm_h_readyz_doc[] =
    "{\"summary\": \"Readiness: the database is reachable and migrated\", \"tags\":"
    " [\"operations\"], \"responses\": {\"200\": {\"description\": \"ready\", \"content\":"
    " {\"application/json\": {\"schema\": {\"type\": \"object\", \"properties\": {\"status\":"
    " {\"const\": \"ready\"}, \"migrations\": {\"type\": \"integer\"}}}}}}}}";

void mdm_h_readyz(mdm_http_req *req)
{
    mdm_err err = {0};
    mdm_db *db = mdm_http_db(req);
    if (!db) {
        mdm_err_set(&err, MDM_ERETRY, "the database is unreachable");
        mdm_http_reply_problem(req, &err);
        return;
    }
    long long n = 0;
    mdm_status st = mdm_migrate_count(db, &n, &err);
    if (st != MDM_OK && !mdm_db_ok(db))
        st = mdm_err_set(&err, MDM_ERETRY, "the database is unreachable");
    else if (st != MDM_OK)
        st = mdm_migrate_count(db, &n, &err); /* after a reconnect */
    if (st != MDM_OK) {
        if (err.sqlstate[0] && strcmp(err.sqlstate, "42P01") == 0)
            mdm_err_set(&err, MDM_ERETRY, "the database is not migrated (run mdm migrate)");
        else if (st != MDM_ERETRY)
            mdm_err_set(&err, MDM_ERETRY, "the database does not answer: %s", err.msg);
        mdm_http_reply_problem(req, &err);
        return;
    }
    mdm_http_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:s, s:I}", "status", "ready", "migrations", (json_int_t)n));
}
