// reference.h — the plain-loop CPU kernels (namespace reference), the oracle every other backend is tested
// against: one function per field of struct Kernels, declared from the fields themselves (SAPT_KERNEL_NAMES,
// kernels/kernels.h), so each signature and its semantics are written once, there. Defined in
// reference_dense.cpp, reference_rows.cpp and reference_attention.cpp; reference.cpp names them in its table.
#pragma once
#include "kernels/kernels.h"

namespace reference {
SAPT_KERNEL_NAMES(SAPT_DECLARE_KERNEL)
}  // namespace reference
