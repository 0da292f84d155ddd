// porter_stemmer.cpp — NLTK's PorterStemmer (mode NLTK_EXTENSIONS), step by step: 1a 1b 1c 2 3 4 5a 5b.
// Each step is a list of (suffix, replacement, condition) rules; the FIRST rule whose suffix matches
// decides, and if its condition fails the word is returned unchanged (no later rule is tried).
// Written from the algorithm's description; every stem in fixtures/metrics/porter_stems.jsonl is checked.
#include "sapt/porter_stemmer.h"

#include <functional>
#include <vector>

namespace {

bool ends_with(const std::string& word, const std::string& suffix) {
    return word.size() >= suffix.size() && word.compare(word.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string drop_suffix(const std::string& word, size_t n) { return word.substr(0, word.size() - n); }

// 'y' is a consonant at the start of a word or after a vowel, a vowel after a consonant.
bool is_consonant(const std::string& word, size_t i) {
    char c = word[i];
    if (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u') return false;
    if (c == 'y') return i == 0 ? true : !is_consonant(word, i - 1);
    return true;
}

// m in Porter's [C](VC)^m[V]: the number of vowel→consonant transitions.
int measure(const std::string& stem) {
    int m = 0;
    for (size_t i = 1; i < stem.size(); i++) {
        if (!is_consonant(stem, i - 1) && is_consonant(stem, i)) m++;
    }
    return m;
}

bool contains_vowel(const std::string& stem) {
    for (size_t i = 0; i < stem.size(); i++) {
        if (!is_consonant(stem, i)) return true;
    }
    return false;
}

bool ends_double_consonant(const std::string& word) {
    size_t n = word.size();
    return n >= 2 && word[n - 1] == word[n - 2] && is_consonant(word, n - 1);
}

// *o: consonant-vowel-consonant where the last is not w, x or y. NLTK also accepts a two-letter
// vowel-consonant word, so that e.g. "ing"/"ed" removal on short words behaves like longer ones.
bool ends_cvc(const std::string& word) {
    size_t n = word.size();
    if (n >= 3 && is_consonant(word, n - 3) && !is_consonant(word, n - 2) && is_consonant(word, n - 1)) {
        char last = word[n - 1];
        return last != 'w' && last != 'x' && last != 'y';
    }
    return n == 2 && !is_consonant(word, 0) && is_consonant(word, 1);
}

bool positive_measure(const std::string& stem) { return measure(stem) > 0; }
bool measure_above_one(const std::string& stem) { return measure(stem) > 1; }

struct Rule {
    std::string suffix;       // "*d" stands for "ends in a double consonant" (drop both, add replacement)
    std::string replacement;
    std::function<bool(const std::string& stem)> condition;  // empty: always
};

std::string apply_rules(const std::string& word, const std::vector<Rule>& rules) {
    for (const Rule& rule : rules) {
        std::string stem;
        if (rule.suffix == "*d") {
            if (!ends_double_consonant(word)) continue;
            stem = drop_suffix(word, 2);
        } else if (ends_with(word, rule.suffix)) {
            stem = drop_suffix(word, rule.suffix.size());
        } else {
            continue;
        }
        if (!rule.condition || rule.condition(stem)) return stem + rule.replacement;
        return word;
    }
    return word;
}

std::string step1a(const std::string& word) {
    if (word.size() == 4 && ends_with(word, "ies")) return drop_suffix(word, 3) + "ie";  // NLTK: ties→tie
    return apply_rules(word, {{"sses", "ss", {}}, {"ies", "i", {}}, {"ss", "ss", {}}, {"s", "", {}}});
}

std::string step1b(const std::string& word) {
    if (ends_with(word, "ied")) return drop_suffix(word, 3) + (word.size() == 4 ? "ie" : "i");  // NLTK
    if (ends_with(word, "eed")) {
        std::string stem = drop_suffix(word, 3);
        return measure(stem) > 0 ? stem + "ee" : word;
    }
    std::string stem;
    bool removed = false;
    for (const char* suffix : {"ed", "ing"}) {
        if (ends_with(word, suffix)) {
            stem = drop_suffix(word, std::string(suffix).size());
            if (contains_vowel(stem)) {
                removed = true;
                break;
            }
        }
    }
    if (!removed) return word;
    // After removing -ed/-ing: restore an 'e' (hop(e)→hope) or undo a doubled consonant (hopp→hop).
    char last = stem.back();
    return apply_rules(stem, {
        {"at", "ate", {}},
        {"bl", "ble", {}},
        {"iz", "ize", {}},
        {"*d", std::string(1, last), [last](const std::string&) { return last != 'l' && last != 's' && last != 'z'; }},
        {"", "e", [](const std::string& s) { return measure(s) == 1 && ends_cvc(s); }},
    });
}

// NLTK: y→i only after a consonant that is not the first letter (cry→cri, but by→by, say→say).
std::string step1c(const std::string& word) {
    return apply_rules(word, {{"y", "i", [](const std::string& s) {
                                   return s.size() > 1 && is_consonant(s, s.size() - 1);
                               }}});
}

std::string step2(const std::string& word) {
    // NLTK applies alli→al first and then runs step 2 again on the result.
    if (ends_with(word, "alli") && positive_measure(drop_suffix(word, 4))) return step2(drop_suffix(word, 4) + "al");
    // logi→log keeps the 'l' in the stem for the measure, so short stems like geo-/theo- qualify.
    auto logi_condition = [&word](const std::string&) { return positive_measure(drop_suffix(word, 3)); };
    return apply_rules(word, {
        {"ational", "ate", positive_measure}, {"tional", "tion", positive_measure},
        {"enci", "ence", positive_measure},   {"anci", "ance", positive_measure},
        {"izer", "ize", positive_measure},    {"bli", "ble", positive_measure},
        {"alli", "al", positive_measure},     {"entli", "ent", positive_measure},
        {"eli", "e", positive_measure},       {"ousli", "ous", positive_measure},
        {"ization", "ize", positive_measure}, {"ation", "ate", positive_measure},
        {"ator", "ate", positive_measure},    {"alism", "al", positive_measure},
        {"iveness", "ive", positive_measure}, {"fulness", "ful", positive_measure},
        {"ousness", "ous", positive_measure}, {"aliti", "al", positive_measure},
        {"iviti", "ive", positive_measure},   {"biliti", "ble", positive_measure},
        {"fulli", "ful", positive_measure},   {"logi", "log", logi_condition},
    });
}

std::string step3(const std::string& word) {
    return apply_rules(word, {
        {"icate", "ic", positive_measure}, {"ative", "", positive_measure}, {"alize", "al", positive_measure},
        {"iciti", "ic", positive_measure}, {"ical", "ic", positive_measure}, {"ful", "", positive_measure},
        {"ness", "", positive_measure},
    });
}

std::string step4(const std::string& word) {
    auto ion_condition = [](const std::string& s) {
        return measure(s) > 1 && !s.empty() && (s.back() == 's' || s.back() == 't');
    };
    return apply_rules(word, {
        {"al", "", measure_above_one},   {"ance", "", measure_above_one}, {"ence", "", measure_above_one},
        {"er", "", measure_above_one},   {"ic", "", measure_above_one},   {"able", "", measure_above_one},
        {"ible", "", measure_above_one}, {"ant", "", measure_above_one},  {"ement", "", measure_above_one},
        {"ment", "", measure_above_one}, {"ent", "", measure_above_one},  {"ion", "", ion_condition},
        {"ou", "", measure_above_one},   {"ism", "", measure_above_one},  {"ate", "", measure_above_one},
        {"iti", "", measure_above_one},  {"ous", "", measure_above_one},  {"ive", "", measure_above_one},
        {"ize", "", measure_above_one},
    });
}

std::string step5a(const std::string& word) {
    if (!ends_with(word, "e")) return word;
    std::string stem = drop_suffix(word, 1);
    int m = measure(stem);
    if (m > 1 || (m == 1 && !ends_cvc(stem))) return stem;
    return word;
}

std::string step5b(const std::string& word) {
    auto condition = [&word](const std::string&) { return measure(drop_suffix(word, 1)) > 1; };
    return apply_rules(word, {{"ll", "l", condition}});
}

// NLTK_EXTENSIONS keeps a small table of irregular forms that bypass the steps.
bool irregular_stem(const std::string& word, std::string& stem) {
    static const std::vector<std::pair<std::string, std::string>> forms = {
        {"skies", "sky"},     {"sky", "sky"},         {"dying", "die"},       {"lying", "lie"},
        {"tying", "tie"},     {"news", "news"},       {"innings", "inning"},  {"inning", "inning"},
        {"outings", "outing"}, {"outing", "outing"},  {"cannings", "canning"}, {"canning", "canning"},
        {"howe", "howe"},     {"proceed", "proceed"}, {"exceed", "exceed"},   {"succeed", "succeed"},
    };
    for (const auto& form : forms) {
        if (form.first == word) {
            stem = form.second;
            return true;
        }
    }
    return false;
}

}  // namespace

std::string porter_stem(const std::string& word) {
    std::string stem;
    if (irregular_stem(word, stem)) return stem;
    if (word.size() <= 2) return word;
    stem = step1a(word);
    stem = step1b(stem);
    stem = step1c(stem);
    stem = step2(stem);
    stem = step3(stem);
    stem = step4(stem);
    stem = step5a(stem);
    stem = step5b(stem);
    return stem;
}
