// train.cpp — the ./train command line. For now it states what it is; the continual-learning loop
// (sapt/) plugs in here as it lands.
#include <cstdio>
#include <cstring>

static const char* kVersion = "sapt.cpp 0.1.0";

static void print_help() {
    std::printf(
        "%s — parameter-efficient continual learning of LLMs with SAPT (Zhao et al., ACL 2024)\n\n"
        "usage: ./train [--help] [--version]\n"
        "  --help      this text\n"
        "  --version   print the version\n",
        kVersion);
}

int main(int argc, char** argv) {
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) { print_help(); return 0; }
        if (!std::strcmp(argv[i], "--version")) { std::printf("%s\n", kVersion); return 0; }
        std::fprintf(stderr, "./train: unknown argument '%s' (see ./train --help)\n", argv[i]);
        return 1;
    }
    print_help();
    return 0;
}
