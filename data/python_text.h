// python_text.h — the few Python `str` operations the official SAPT code relies on, reproduced byte for
// byte: str.lower() (full Unicode case mapping), str.split() / str.strip() (Python's whitespace set).
// Both the loader (Definition.strip()) and the metrics (normalize_answer, the ROUGE tokenizer) need them.
// Deliberately not a general Unicode library: only what those call sites need, on UTF-8 std::strings.
#pragma once
#include <string>
#include <vector>

// UTF-8 → code points. Invalid bytes become U+FFFD one byte at a time (what Python's
// bytes.decode(errors="replace") gives for a lone bad byte), so a model's broken output is still scored.
std::vector<char32_t> utf8_to_code_points(const std::string& text);
std::string code_points_to_utf8(const std::vector<char32_t>& code_points);
bool is_valid_utf8(const std::string& text);
// Byte offset of the first byte that does not start a valid UTF-8 character; text.size() if none.
size_t first_invalid_utf8_offset(const std::string& text);

// Python's str.isspace() set: ASCII \t \n \v \f \r, the separators 0x1C-0x1F, space, NEL, NBSP,
// U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. Not U+200B (zero-width space).
bool is_python_whitespace(char32_t c);

// str.lower(): the full lower-case mapping, so U+0130 (İ) becomes "i" + U+0307, and a capital sigma at
// the end of a word becomes final sigma ς (Unicode's Final_Sigma rule, which CPython applies).
std::string python_lower(const std::string& text);

// str.strip() with no argument.
std::string python_strip(const std::string& text);

// str.split() with no argument: runs of whitespace separate, no empty pieces.
std::vector<std::string> python_split(const std::string& text);
