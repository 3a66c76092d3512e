/* libphonenumber shim (see phone.h). Kept tiny: parse, validate, format E.164. */
extern "C" {
#include "matching/phone.h"
}

#include <cstdio>
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
        bool parsed = try_parse(util, text, region, &pn);
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
