// synthetic_suite.cpp — see synthetic_suite.h. An input is an adjective (its mood) followed by two to
// four nouns of one topic, e.g. "happy cat horse bird". Six tasks read that input differently.
#include "data/synthetic_suite.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/rng.h"

static const std::vector<std::string> kPositive = {"good", "great", "happy", "bright", "kind", "warm", "calm", "nice"};
static const std::vector<std::string> kNegative = {"bad", "awful", "sad", "dark", "cruel", "cold", "angry", "rude"};
static const std::vector<std::string> kTopics = {"animal", "food", "place"};
static const std::vector<std::vector<std::string>> kTopicNouns = {
    {"cat", "dog", "horse", "bird", "fish", "mouse", "lion", "sheep"},
    {"bread", "apple", "rice", "cheese", "soup", "cake", "pear", "milk"},
    {"city", "river", "forest", "beach", "school", "market", "garden", "mountain"},
};
static const std::vector<std::string> kCountWords = {"three", "four", "five"};

struct Draw {
    std::vector<std::string> words;
    bool positive;
    int topic;
};

static const std::string& pick(Rng& rng, const std::vector<std::string>& list) {
    return list[rng_below(rng, (uint32_t)list.size())];
}

static Draw draw_input(Rng& rng) {
    Draw d;
    d.positive = rng_below(rng, 2) == 0;
    d.topic = (int)rng_below(rng, 3);
    d.words.push_back(pick(rng, d.positive ? kPositive : kNegative));
    int n_nouns = 2 + (int)rng_below(rng, 3);
    for (int i = 0; i < n_nouns; i++) d.words.push_back(pick(rng, kTopicNouns[d.topic]));
    return d;
}

static std::string join(const std::vector<std::string>& words) {
    std::string s;
    for (const std::string& w : words) s += (s.empty() ? "" : " ") + w;
    return s;
}

// The answer of each task for one drawn input.
static std::string answer(const std::string& task, const Draw& d) {
    if (task == "sentiment") return d.positive ? "positive" : "negative";
    if (task == "sentiment_flipped") return d.positive ? "negative" : "positive";
    if (task == "topic") return kTopics[d.topic];
    if (task == "first_word") return d.words.front();
    if (task == "last_word") return d.words.back();
    return kCountWords[d.words.size() - 3];  // "count": 3 to 5 words
}

static std::vector<std::string> all_words() {
    std::vector<std::string> words = kPositive;
    words.insert(words.end(), kNegative.begin(), kNegative.end());
    for (const auto& nouns : kTopicNouns) words.insert(words.end(), nouns.begin(), nouns.end());
    return words;
}

SyntheticSuite make_synthetic_suite(uint64_t seed, int train_per_task, int test_per_task) {
    struct Spec { const char* name; const char* definition; std::vector<std::string> labels; };
    const std::vector<Spec> specs = {
        {"sentiment", "Is the mood of the words positive or negative? Choose one from the option.",
         {"positive", "negative"}},
        {"topic", "Which topic do the nouns belong to (animal, food or place)? Choose one from the option.",
         kTopics},
        {"first_word", "Copy the first word of the input.", all_words()},
        {"sentiment_flipped", "Answer the opposite of the mood of the words: positive or negative? Choose one "
         "from the option.", {"positive", "negative"}},
        {"last_word", "Copy the last word of the input.", all_words()},
        {"count", "How many words are in the input? Answer with a number word.", kCountWords},
    };
    SyntheticSuite suite;
    for (size_t t = 0; t < specs.size(); t++) {
        Rng rng = rng_make(seed, /*stream=*/t + 1);  // one stream per task: adding a task changes no other
        SyntheticTask task;
        task.name = specs[t].name;
        task.definition = specs[t].definition;
        task.labels = specs[t].labels;
        for (int i = 0; i < train_per_task + test_per_task; i++) {
            Draw d = draw_input(rng);
            SyntheticExample ex{join(d.words), answer(task.name, d)};
            (i < train_per_task ? task.train : task.test).push_back(ex);
        }
        suite.tasks.push_back(task);
    }
    return suite;
}

static std::string split_json(const SyntheticTask& task, const std::vector<SyntheticExample>& examples) {
    nlohmann::json file;
    file["Definition"] = {task.definition};
    file["Positive Examples"] = nlohmann::json::array();
    file["Negative Examples"] = nlohmann::json::array();
    nlohmann::json instances = nlohmann::json::array();
    for (const SyntheticExample& ex : examples) instances.push_back({{"input", ex.input}, {"output", ex.output}});
    file["Instances"] = instances;
    return file.dump(2);
}

static void make_directories(const std::string& dir) {
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) fail(dir, "cannot create the directory (" + error.message() + ")");
}

std::string write_synthetic_suite(const SyntheticSuite& suite, const std::string& root) {
    make_directories(root + "/Long_Sequence");
    nlohmann::json order_tasks = nlohmann::json::array();
    for (const SyntheticTask& task : suite.tasks) {
        std::string dir = root + "/Long_Sequence/" + task.name;
        make_directories(dir);
        atomic_write_file(dir + "/train.json", split_json(task, task.train));
        atomic_write_file(dir + "/test.json", split_json(task, task.test));
        atomic_write_file(dir + "/labels.json", nlohmann::json(task.labels).dump());
        order_tasks.push_back(task.name);
    }
    nlohmann::json orders;
    orders["orders"]["builtin"] = {{"benchmark", "Long_Sequence"}, {"num_tasks", suite.tasks.size()},
                                   {"tasks", order_tasks}};
    std::string path = root + "/orders.json";
    atomic_write_file(path, orders.dump(2));
    return path;
}

std::vector<std::string> synthetic_suite_corpus(const SyntheticSuite& suite) {
    std::vector<std::string> lines;
    for (const SyntheticTask& task : suite.tasks) {
        lines.push_back(task.definition);
        for (const auto* split : {&task.train, &task.test}) {
            for (const SyntheticExample& ex : *split) {
                lines.push_back(ex.input);
                lines.push_back(ex.output);
            }
        }
    }
    return lines;
}
