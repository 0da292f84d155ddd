// kernels.cpp — the names of the Kernels fields as strings (kernel_names) and the check that a table sets
// every one of them (kernels_missing), both walking SAPT_KERNEL_NAMES, plus the proof that this list names
// every field of struct Kernels. Not here: any table or kernel.
#include "kernels/kernels.h"

#define SAPT_KERNEL_NAME_STRING(field) #field,
const char* const kernel_names[] = {SAPT_KERNEL_NAMES(SAPT_KERNEL_NAME_STRING)};
#undef SAPT_KERNEL_NAME_STRING
const int n_kernels = int(sizeof(kernel_names) / sizeof(kernel_names[0]));

// Struct Kernels is its name and one function pointer per kernel: if the list missed a field, the struct would
// be larger than the list accounts for. (Every field is a pointer to a function, all of one size.)
#define SAPT_KERNEL_COUNT_ONE(field) +1
constexpr size_t n_listed_kernels = 0 SAPT_KERNEL_NAMES(SAPT_KERNEL_COUNT_ONE);
static_assert(sizeof(Kernels) == sizeof(const char*) + n_listed_kernels * sizeof(void (*)()),
              "SAPT_KERNEL_NAMES (kernels/kernels.h) must list every field of struct Kernels");
#undef SAPT_KERNEL_COUNT_ONE

std::vector<std::string> kernels_missing(const Kernels& table) {
    std::vector<std::string> missing;
#define SAPT_KERNEL_CHECK_SET(field) \
    if (table.field == nullptr) missing.push_back(#field);
    SAPT_KERNEL_NAMES(SAPT_KERNEL_CHECK_SET)
#undef SAPT_KERNEL_CHECK_SET
    return missing;
}
