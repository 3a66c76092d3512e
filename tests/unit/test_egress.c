/* The SSRF guard of deliveries (issue 17 item 5): URL checks, address classes, the
 * allowlist and pinning. */
#include "mdm/egress.h"
#include "tests/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* The class of a literal address, "public" when the default policy admits it. */
static const char *cls(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1)
        in->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    else
        return "bad test address";
    const char *c = mdm_egress_class((const struct sockaddr *)(void *)&ss);
    return c ? c : "public";
}

static void test_classes(void)
{
    static const struct {
        const char *addr, *want;
    } cases[] = {
        {"127.0.0.1", "loopback"},
        {"127.255.1.2", "loopback"},
        {"10.1.2.3", "private"},
        {"172.16.0.1", "private"},
        {"172.31.255.255", "private"},
        {"172.32.0.1", "public"},
        {"192.168.1.1", "private"},
        {"169.254.169.254", "the metadata service"},
        {"169.254.1.1", "link-local"},
        {"100.64.0.1", "shared (carrier-grade NAT)"},
        {"0.0.0.0", "unspecified"},
        {"224.0.0.1", "multicast or reserved"},
        {"255.255.255.255", "multicast or reserved"},
        {"93.184.216.34", "public"},
        {"8.8.8.8", "public"},
        {"::1", "loopback"},
        {"::", "unspecified"},
        {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:169.254.169.254", "the metadata service"},
        {"64:ff9b::a00:1", "private"},
        {"2002:7f00:1::", "loopback"},
        {"fd00::1", "private"},
        {"fe80::1", "link-local"},
        {"ff02::1", "multicast"},
        {"2606:4700::1111", "public"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK_STR(cls(cases[i].addr), cases[i].want);
    }
}

static void test_urls(void)
{
    char why[200];
    CHECK(mdm_egress_url_ok("https://crm.example/hook?a=1", why, sizeof why));
    CHECK(mdm_egress_url_ok("http://[2606:4700::1111]:8080/", why, sizeof why));
    CHECK(!mdm_egress_url_ok("https://user:pw@crm.example/", why, sizeof why));
    CHECK(strstr(why, "user:password@") != NULL);
    CHECK(!mdm_egress_url_ok("https://crm.example@evil.example/", why, sizeof why));
    CHECK(mdm_egress_url_ok("https://crm.example/path@x", why, sizeof why)); /* @ in the path */
    CHECK(!mdm_egress_url_ok("https://crm.example/\r\nX: 1", why, sizeof why));
    CHECK(!mdm_egress_url_ok("https://crm.example/a b", why, sizeof why));
    CHECK(!mdm_egress_url_ok("https://crm.example/\x7f", why, sizeof why));
    CHECK(!mdm_egress_url_ok("ftp://crm.example/", why, sizeof why));
    CHECK(!mdm_egress_url_ok("file:///etc/passwd", why, sizeof why));
    CHECK(!mdm_egress_url_ok("http://", why, sizeof why));
    CHECK(!mdm_egress_url_ok("http://:80/", why, sizeof why));
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    memcpy(big, "https://", 8);
    big[sizeof big - 1] = '\0';
    CHECK(!mdm_egress_url_ok(big, why, sizeof why));
}

static void test_allowlist_and_pin(void)
{
    mdm_err err;
    mdm_egress none, some;
    CHECK_INT(mdm_egress_load(NULL, "/publish/allowed_networks", &none, &err), MDM_OK);
    json_t *nets = json_pack("[s,s]", "127.0.0.1/32", "10.20.0.0/16");
    CHECK_INT(mdm_egress_load(nets, "/publish/allowed_networks", &some, &err), MDM_OK);
    json_decref(nets);
    json_t *bad = json_pack("[s]", "10.0.0.0/33");
    CHECK(mdm_egress_load(bad, "/publish/allowed_networks", &some, &err) != MDM_OK);
    CHECK_STR(err.field, "/publish/allowed_networks/0");
    json_decref(bad);
    nets = json_pack("[s,s]", "127.0.0.1/32", "10.20.0.0/16");
    CHECK_INT(mdm_egress_load(nets, "/publish/allowed_networks", &some, &err), MDM_OK);
    json_decref(nets);

    char pin[300], why[300];
    CHECK(!mdm_egress_pin(&none, "http://127.0.0.1:9/x", pin, sizeof pin, why, sizeof why));
    CHECK(strstr(why, "127.0.0.1 is loopback") != NULL);
    CHECK(!mdm_egress_pin(&none, "http://10.20.1.1/x", pin, sizeof pin, why, sizeof why));
    CHECK(mdm_egress_pin(&some, "http://10.20.1.1/x", pin, sizeof pin, why, sizeof why));
    CHECK_STR(pin, ""); /* a literal needs no pinning */
    CHECK(!mdm_egress_pin(&some, "http://10.21.1.1/x", pin, sizeof pin, why, sizeof why));
    CHECK(!mdm_egress_pin(&some, "http://127.0.0.2/x", pin, sizeof pin, why, sizeof why));
    /* a name is resolved and pinned to the address that was checked */
    CHECK(!mdm_egress_pin(&none, "http://localhost:8080/x", pin, sizeof pin, why, sizeof why));
    CHECK(strstr(why, "localhost resolves to") != NULL);
    if (mdm_egress_pin(&some, "http://localhost:8080/x", pin, sizeof pin, why, sizeof why))
        CHECK_STR(pin, "localhost:8080:127.0.0.1");
    CHECK(!mdm_egress_pin(&some, "http://[::1]:8080/x", pin, sizeof pin, why, sizeof why));
    CHECK(!mdm_egress_pin(&some, "http://127.0.0.1:99999/x", pin, sizeof pin, why, sizeof why));
}

int main(void)
{
    RUN(test_classes);
    RUN(test_urls);
    RUN(test_allowlist_and_pin);
    TEST_END();
}
