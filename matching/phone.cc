/* libphonenumber shim (see phone.h). Kept tiny: parse, validate, format E.164. */
extern "C" {
#include "matching/phone.h"
}

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

static void copy_str(char *dst, size_t cap, const std::string &s)
{
    size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
    std::memcpy(dst, s.data(), n);
    dst[n] = '\0';
}

/* One attempt; true when the number parsed (valid or not). */
static bool try_parse(const PhoneNumberUtil *util, const std::string &text, const char *region,
                      PhoneNumber *pn)
{
    pn->Clear();
    return util->Parse(text, region, pn) == PhoneNumberUtil::NO_PARSING_ERROR;
}

/* Parse() spends most of its time in regular expressions that plain layouts do not
 * need. Digits with spaces, hyphens, dots and parentheses, optionally after one leading
 * '+' (then the country code is the prefix-free calling-code match), or a ten/eleven
 * digit NANP number for US/CA, are built directly. Anything else, including "(0)",
 * national numbers with a leading zero and other regions' national layouts, returns
 * false and goes through Parse(). test_phone.c checks both paths agree. */
static bool fast_parse(const PhoneNumberUtil *util, const char *in, const char *region,
                       PhoneNumber *pn)
{
    char d[24];
    size_t nd = 0;
    bool plus = false;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c >= '0' && c <= '9') {
            if (nd >= 18)
                return false;
            d[nd++] = c;
        } else if (c == '+' && nd == 0 && !plus) {
            plus = true;
        } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
            return false;
        }
    }
    d[nd] = '\0';
    if (std::strstr(in, "(0)"))
        return false;
    size_t start;
    int cc = 0;
    if (plus) {
        if (nd == 0 || d[0] == '0')
            return false;
        for (size_t l = 1; l <= 3 && l < nd && !cc; l++) {
            int v = 0;
            for (size_t i = 0; i < l; i++)
                v = v * 10 + (d[i] - '0');
            std::string rc;
            util->GetRegionCodeForCountryCode(v, &rc);
            if (rc != "ZZ") {
                cc = v;
                start = l;
                /* Parse() strips a national prefix after the country code
                 * ("+1 1 415...", "+44 0 20..."): leave those to it */
                std::string ndd;
                util->GetNddPrefixForRegion(rc, true, &ndd);
                if (!ndd.empty() && std::strncmp(d + l, ndd.c_str(), ndd.size()) == 0)
                    return false;
                if (ndd.size() != 1 && ndd != "") /* "06", "8", patterns: Parse() knows */
                    return false;
            }
        }
        if (!cc)
            return false;
    } else if (std::strcmp(region, "US") == 0 || std::strcmp(region, "CA") == 0) {
        if (nd == 10 && d[0] >= '2')
            start = 0;
        else if (nd == 11 && d[0] == '1' && d[1] >= '2')
            start = 1;
        else
            return false;
        cc = 1;
    } else {
        return false;
    }
    size_t nl = nd - start;
    if (nl < 2 || nl > 17 || d[start] == '0')
        return false;
    pn->Clear();
    pn->set_country_code(cc);
    pn->set_national_number(std::strtoull(d + start, nullptr, 10));
    return true;
}

extern "C" bool mdm_phone_region_known(const char *region)
{
    try {
        const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
        return region && util->GetCountryCodeForRegion(region) != 0;
    } catch (...) {
        return false;
    }
}

extern "C" mdm_status mdm_phone_parse(const char *in, const char *region, mdm_phone_norm *out,
                                      mdm_err *err)
{
    return mdm_phone_parse_ex(in, region, true, out, err);
}

extern "C" mdm_status mdm_phone_parse_ex(const char *in, const char *region, bool fast,
                                         mdm_phone_norm *out, mdm_err *err)
{
    out->e164[0] = '\0';
    out->ext[0] = '\0';
    out->country_code = 0;
    out->valid = false;
    try {
        const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
        if (!region || util->GetCountryCodeForRegion(region) == 0)
            return mdm_err_set(err, MDM_EINVAL, "unknown phone region \"%.8s\"",
                               region ? region : "");
        std::string text(in);
        PhoneNumber pn;
        bool parsed =
            (fast && fast_parse(util, in, region, &pn)) || try_parse(util, text, region, &pn);
        bool valid = parsed && util->IsValidNumber(pn);
        if (!valid) {
            /* "0049 30 1234567": "00" is the international prefix almost everywhere */
            size_t i = text.find_first_not_of(" \t(");
            if (i != std::string::npos && text.compare(i, 2, "00") == 0) {
                PhoneNumber alt;
                std::string plus = "+" + text.substr(i + 2);
                if (try_parse(util, plus, region, &alt) && util->IsValidNumber(alt)) {
                    pn = alt;
                    parsed = valid = true;
                }
            }
        }
        if (!parsed)
            return MDM_OK;
        out->country_code = pn.country_code();
        if (pn.has_extension())
            copy_str(out->ext, sizeof out->ext, pn.extension());
        if (valid) {
            std::string e164;
            util->Format(pn, PhoneNumberUtil::E164, &e164);
            copy_str(out->e164, sizeof out->e164, e164);
            out->valid = true;
        }
        return MDM_OK;
    } catch (const std::exception &e) {
        return mdm_err_set(err, MDM_EINTERNAL, "phone parsing failed: %s", e.what());
    } catch (...) {
        return mdm_err_set(err, MDM_EINTERNAL, "phone parsing failed");
    }
}
