// tokenize.cpp — command-line tokenizer, a drop-in for spm_encode / spm_decode on one model:
//   ./tokenize --model M [--ids|--pieces] [--extra-ids N] < text   one output line per input line
//   ./tokenize --model M --decode [--extra-ids N] < ids            ids separated by single spaces
// Lines are split on '\n' only (a '\r' stays in the line, as with spm_encode). No BOS/EOS are added.
#include "engine/error.h"
#include "tokenizer/tokenizer.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {

void print_usage(std::FILE* to) {
    std::fprintf(to,
                 "usage: ./tokenize --model FILE.model [--ids | --pieces | --decode] [--extra-ids N]\n"
                 "  --ids        print ids (default), like spm_encode --output_format=id\n"
                 "  --pieces     print pieces, like spm_encode --output_format=piece\n"
                 "  --decode     read space-separated ids, print text, like spm_decode --input_format=id\n"
                 "  --extra-ids  number of T5 sentinels <extra_id_N> after the model's pieces (T5: 100)\n");
}

enum class Mode { ids, pieces, decode };

// spm_decode splits on spaces, skipping empty fields, and reads each field with atoi ("x" is id 0).
std::vector<int> parse_ids(const std::string& line) {
    std::vector<int> ids;
    size_t begin = 0;
    while (begin <= line.size()) {
        size_t end = line.find(' ', begin);
        if (end == std::string::npos) end = line.size();
        if (end > begin) ids.push_back(std::atoi(line.substr(begin, end - begin).c_str()));
        begin = end + 1;
    }
    return ids;
}

int parse_extra_ids(const std::string& text) {
    char* end = nullptr;
    const long n = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || n < 0 || n > 1000) {
        fail("tokenize", "--extra-ids expects an integer in 0..1000 (got \"" + text + "\")");
    }
    return int(n);
}

int run(int argc, char** argv) {
    std::string model_path;
    Mode mode = Mode::ids;
    int n_extra_ids = 0;
    for (int i = 1; i < argc; ++i) {  // --help anywhere wins, even where a flag's value was expected
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            print_usage(stdout);
            return 0;
        }
    }
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--model" || arg == "--extra-ids") && i + 1 >= argc) fail("tokenize", arg + " needs a value");
        if (arg == "--model") model_path = argv[++i];
        else if (arg == "--ids") mode = Mode::ids;
        else if (arg == "--pieces") mode = Mode::pieces;
        else if (arg == "--decode") mode = Mode::decode;
        else if (arg == "--extra-ids") n_extra_ids = parse_extra_ids(argv[++i]);
        else fail("tokenize", "unknown argument " + arg + " (expected --model, --ids, --pieces, --decode, --extra-ids)");
    }
    if (model_path.empty()) {
        print_usage(stderr);
        fail("tokenize", "no model given (expected --model FILE.model)");
    }
    const Tokenizer tokenizer = load_tokenizer(model_path, n_extra_ids);

    std::ios::sync_with_stdio(false);
    std::string line, out;
    std::vector<int> ids;
    std::vector<std::string> pieces;
    while (std::getline(std::cin, line)) {
        out.clear();
        if (mode == Mode::decode) {
            out = decode(tokenizer, parse_ids(line));
        } else {
            ids.clear();
            pieces.clear();
            encode(tokenizer, line, ids, mode == Mode::pieces ? &pieces : nullptr);
            if (mode == Mode::pieces) {
                for (size_t i = 0; i < pieces.size(); ++i) { if (i) out += ' '; out += pieces[i]; }
            } else {
                char number[16];
                for (size_t i = 0; i < ids.size(); ++i) {
                    if (i) out += ' ';
                    out.append(number, std::to_chars(number, number + sizeof number, ids[i]).ptr);
                }
            }
        }
        out += '\n';
        std::cout.write(out.data(), std::streamsize(out.size()));
    }
    std::cout.flush();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const sapt_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
