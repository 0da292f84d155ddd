// python_text.cpp — see python_text.h. Case data comes from utf8proc; only the cases where Python's
// str.lower() differs from utf8proc's simple per-character mapping are written out here.
#include "data/python_text.h"

#include <utf8proc.h>

std::vector<char32_t> utf8_to_code_points(const std::string& text) {
    std::vector<char32_t> out;
    out.reserve(text.size());
    const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
    utf8proc_ssize_t pos = 0, n = (utf8proc_ssize_t)text.size();
    while (pos < n) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t used = utf8proc_iterate(bytes + pos, n - pos, &cp);
        if (used <= 0) {
            out.push_back(0xFFFD);
            pos += 1;
        } else {
            out.push_back((char32_t)cp);
            pos += used;
        }
    }
    return out;
}

std::string code_points_to_utf8(const std::vector<char32_t>& code_points) {
    std::string out;
    out.reserve(code_points.size());
    utf8proc_uint8_t buf[4];
    for (char32_t c : code_points) {
        utf8proc_ssize_t len = utf8proc_encode_char((utf8proc_int32_t)c, buf);
        out.append(reinterpret_cast<const char*>(buf), (size_t)len);
    }
    return out;
}

size_t first_invalid_utf8_offset(const std::string& text) {
    const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
    utf8proc_ssize_t pos = 0, n = (utf8proc_ssize_t)text.size();
    while (pos < n) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t used = utf8proc_iterate(bytes + pos, n - pos, &cp);
        if (used <= 0) return (size_t)pos;
        pos += used;
    }
    return text.size();
}

bool is_valid_utf8(const std::string& text) { return first_invalid_utf8_offset(text) == text.size(); }

bool is_python_whitespace(char32_t c) {
    if (c < 128) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Unicode "Cased": has upper/lower/title case. Approximated by category or by having a case mapping.
static bool is_cased(char32_t c) {
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return true;
    return utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
           utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

// Unicode "Case_Ignorable": marks, format characters, modifier letters/symbols, and the word-internal
// punctuation of Word_Break MidLetter / MidNumLet / Single_Quote (apostrophes, period, colon, middle dot).
static bool is_case_ignorable(char32_t c) {
    switch (c) {
        case '\'': case '.': case ':': case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018:
        case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07:
        case 0xFF0E: case 0xFF1A:
            return true;
        default: break;
    }
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK;
}

// CPython's handle_capital_sigma: Σ is final when a cased letter precedes it (skipping case-ignorables)
// and no cased letter follows it (again skipping case-ignorables).
static bool sigma_is_final(const std::vector<char32_t>& s, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(s[j - 1])) j--;
    if (j == 0 || !is_cased(s[j - 1])) return false;
    size_t k = i + 1;
    while (k < s.size() && is_case_ignorable(s[k])) k++;
    return k == s.size() || !is_cased(s[k]);
}

std::string python_lower(const std::string& text) {
    std::vector<char32_t> in = utf8_to_code_points(text);
    std::vector<char32_t> out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); i++) {
        char32_t c = in[i];
        if (c == 0x130) {  // SpecialCasing: İ lower-cases to two code points
            out.push_back('i');
            out.push_back(0x307);
        } else if (c == 0x3A3) {
            out.push_back(sigma_is_final(in, i) ? 0x3C2 : 0x3C3);
        } else {
            out.push_back((char32_t)utf8proc_tolower((utf8proc_int32_t)c));
        }
    }
    return code_points_to_utf8(out);
}

std::string python_strip(const std::string& text) {
    std::vector<char32_t> cps = utf8_to_code_points(text);
    size_t begin = 0, end = cps.size();
    while (begin < end && is_python_whitespace(cps[begin])) begin++;
    while (end > begin && is_python_whitespace(cps[end - 1])) end--;
    return code_points_to_utf8(std::vector<char32_t>(cps.begin() + begin, cps.begin() + end));
}

std::vector<std::string> python_split(const std::string& text) {
    std::vector<std::string> pieces;
    std::vector<char32_t> cps = utf8_to_code_points(text), word;
    for (char32_t c : cps) {
        if (is_python_whitespace(c)) {
            if (!word.empty()) pieces.push_back(code_points_to_utf8(word));
            word.clear();
        } else {
            word.push_back(c);
        }
    }
    if (!word.empty()) pieces.push_back(code_points_to_utf8(word));
    return pieces;
}
