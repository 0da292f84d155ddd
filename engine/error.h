// error.h — the one way sapt.cpp reports a problem with user input or a file: an exception whose
// message reads "where: what is wrong (expected X, got Y)". Programs catch it in main and exit 1.
#pragma once
#include <stdexcept>
#include <string>

struct sapt_error : std::runtime_error {
    explicit sapt_error(const std::string& message) : std::runtime_error(message) {}
};

// Throws sapt_error(where + ": " + what).
[[noreturn]] void fail(const std::string& where, const std::string& what);
