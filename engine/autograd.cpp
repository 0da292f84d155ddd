// autograd.cpp — the tape (see autograd.h). Ops append closures in the order they run, so running them
// newest-first visits every tensor after all of its consumers: a topological order for free, with no
// graph walk (micrograd sorts its graph; a tape is that sort, recorded as it happens).
// The tape and grad mode are per thread, so two threads can each train or evaluate their own model.
#include "engine/autograd.h"

#include "engine/error.h"
#include "engine/rng.h"

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

// Runs closures newest-first and drops each as soon as it has run, so its captured tensors are freed.
static void run_newest_first(std::vector<TapeEntry>& entries) {
    while (!entries.empty()) {
        entries.back().backward();
        entries.pop_back();
    }
}

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
    // Moving the tape out first means a closure that throws still leaves an empty tape behind.
    std::vector<TapeEntry> entries;
    entries.swap(tape);
    run_newest_first(entries);
}

// Runs `forward` with its ops recording onto a tape of their own, handed back in *entries; the thread's
// tape is as before afterwards, also when forward throws.
static Tensor record_apart(const std::function<Tensor()>& forward, std::vector<TapeEntry>* entries) {
    std::vector<TapeEntry> outer;
    outer.swap(tape);
    try {
        Tensor out = forward();
        entries->swap(tape);
        tape.swap(outer);
        return out;
    } catch (...) {
        tape.swap(outer);
        throw;
    }
}

// Puts the global RNG back where the block's first forward found it, and forward again on leaving.
struct RngRewind {
    Rng now;
    explicit RngRewind(const Rng& then) : now(global_rng()) { global_rng() = then; }
    ~RngRewind() { global_rng() = now; }
};

Tensor recompute_in_backward(const char* op, std::function<Tensor()> forward) {
    if (!grad_mode) return forward();
    const Rng rng_at_start = global_rng();
    // The first pass records with grad mode on (so the output knows whether it depends on a trainable
    // tensor, which the hook's adapters hide from us) onto a tape that is dropped at once: that frees
    // the block's inner activations, and the caller keeps one (B, T, C) input per block.
    Tensor out;
    {
        std::vector<TapeEntry> block;
        out = record_apart(forward, &block);
    }
    if (!out.requires_grad()) return out;
    tape_push(op, [forward, out, rng_at_start]() {
        if (!out.has_grad()) return;
        std::vector<TapeEntry> block;
        Tensor again;
        {
            RngRewind rewind(rng_at_start);  // dropout draws the masks of the first pass again
            again = record_apart(forward, &block);
        }
        if (again.shape() != out.shape()) {
            fail("recompute_in_backward", "the recomputed block changed shape (expected " + shape_str(out.shape()) +
                                              ", got " + shape_str(again.shape()) + ")");
        }
        // The recomputed output shares the gradient buffer the block's consumers filled, which seeds
        // the sub-tape exactly as the main tape would have been seeded.
        again.data->grad = out.data->grad;
        run_newest_first(block);
    });
    return out;
}

NoGradScope::NoGradScope() : previous(grad_mode) { grad_mode = false; }

NoGradScope::~NoGradScope() { grad_mode = previous; }
