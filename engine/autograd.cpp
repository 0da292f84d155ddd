// autograd.cpp — the tape (see autograd.h). Ops append closures in the order they run, so running them
// newest-first visits every tensor after all of its consumers: a topological order for free, with no
// graph walk (micrograd sorts its graph; a tape is that sort, recorded as it happens).
// The tape and grad mode are per thread, so two threads can each train or evaluate their own model.
#include "engine/autograd.h"

#include "engine/error.h"

static thread_local std::vector<TapeEntry> tape;
static thread_local bool grad_mode = true;

bool grad_enabled() { return grad_mode; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
    if (!grad_mode) return false;
    for (const Tensor* t : inputs) {
        if (t && t->defined() && t->requires_grad()) return true;
    }
    return false;
}

void tape_push(const char* op, std::function<void()> backward) { tape.push_back({op, std::move(backward)}); }

size_t tape_size() { return tape.size(); }

void tape_clear() { tape.clear(); }

void backward(const Tensor& loss) {
    if (!loss.defined() || loss.numel() != 1) {
        fail("backward", "the loss must be a scalar (expected 1 element, got shape " +
                             (loss.defined() ? shape_str(loss.shape()) : std::string("undefined")) + ")");
    }
    if (!loss.requires_grad()) {
        fail("backward", "the loss does not depend on any tensor that requires a gradient "
                         "(was it computed under NoGradScope, or are all weights frozen?)");
    }
    // d loss / d loss = 1.
    kernels_for(loss.device()).fill(loss.grad(), 1.0f, 1);
    // Moving the tape out first means a closure that throws still leaves an empty tape behind, and
    // each closure's captured tensors are freed as soon as it has run.
    std::vector<TapeEntry> entries;
    entries.swap(tape);
    while (!entries.empty()) {
        entries.back().backward();
        entries.pop_back();
    }
}

NoGradScope::NoGradScope() : previous(grad_mode) { grad_mode = false; }

NoGradScope::~NoGradScope() { grad_mode = previous; }
