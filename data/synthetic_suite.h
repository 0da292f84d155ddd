// synthetic_suite.h — the built-in task suite that `./train` runs with no arguments: six small
// instruction tasks over one shared word list, written to disk in CL_Benchmark's Long_Sequence format so
// they go through the very loader real data does. Some tasks share a skill (copying a word, reading the
// mood), so transfer is possible; some give opposite answers for the same input (sentiment vs
// sentiment_flipped, first_word vs last_word), so a method without protection visibly forgets.
// Not here: the tokenizer or model trained on it (sapt/), any randomness beyond the seed given.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

struct SyntheticExample {
    std::string input;
    std::string output;
};

struct SyntheticTask {
    std::string name;
    std::string definition;           // the instruction that tells the tasks apart
    std::vector<std::string> labels;  // closed answer set (labels.json); every possible word for copy tasks
    std::vector<SyntheticExample> train, test;
};

struct SyntheticSuite {
    std::vector<SyntheticTask> tasks;  // in the default order
};

// Deterministic for a given seed: the same seed gives byte-identical files.
SyntheticSuite make_synthetic_suite(uint64_t seed, int train_per_task, int test_per_task);

// Writes <root>/Long_Sequence/<task>/{train,test,labels}.json and <root>/orders.json with the order id
// "builtin" (every task) — each file atomically. Returns the orders.json path.
std::string write_synthetic_suite(const SyntheticSuite& suite, const std::string& root);

// Every input and output string of the suite, one per line: the corpus the built-in tokenizer and the
// built-in model's pretraining read.
std::vector<std::string> synthetic_suite_corpus(const SyntheticSuite& suite);
