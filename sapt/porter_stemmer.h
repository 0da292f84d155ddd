// porter_stemmer.h — the Porter stemmer exactly as NLTK 3.8's PorterStemmer() runs it in its default
// NLTK_EXTENSIONS mode, which is what the official ROUGE tokenizer (rouge_score, use_stemmer=True) calls.
// That mode is neither Porter's 1980 paper nor his later reference code: e.g. dying→die, skies→sky,
// news→news, this→thi, does→doe. Input: one lower-case ASCII token. Not a general-purpose stemmer.
#pragma once
#include <string>

std::string porter_stem(const std::string& word);
