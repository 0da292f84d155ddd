// main.cpp — the Catch2 runner for the whole suite (one translation unit compiles Catch2's main, so the
// test files stay quick to rebuild).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
