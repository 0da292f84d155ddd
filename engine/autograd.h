// autograd.h — the tape. Every differentiable op (ops.cpp) computes its forward and, when one of its
// inputs requires a gradient and grad mode is on, pushes a closure that knows how to send the output's
// gradient back to its inputs. backward(loss) seeds d loss = 1 and runs the closures newest-first.
// Gradients ADD into Tensor::grad(), so two uses of one tensor sum their contributions, and a tensor
// that does not require a gradient (a frozen weight) never gets a gradient buffer.
#pragma once
#include <functional>
#include <vector>

#include "engine/tensor.h"

struct TapeEntry {
    const char* op;                  // "matmul", "rmsnorm", ... for debugging and error messages
    std::function<void()> backward;  // reads output grads, adds into input grads
};

// True when ops should record (grad mode on and at least one input requires a gradient).
bool grad_enabled();
bool needs_grad(std::initializer_list<const Tensor*> inputs);
void tape_push(const char* op, std::function<void()> backward);
size_t tape_size();
void tape_clear();  // drop the recorded graph without running it (e.g. after an evaluation forward)

// Runs the tape backward from a scalar `loss` (numel 1), then clears it.
void backward(const Tensor& loss);

// Activation recomputation (checkpointing, Chen et al. 2016): runs `forward` (a transformer block) now,
// keeps none of its inner activations on the tape, and records one entry that, during backward, runs
// `forward` again with the tape on and sends the output's gradient back through that fresh sub-tape into
// whatever the block read (its input, the adapters its PET hook touches, shared tensors such as a
// position bias). The same ops run in the same order with the same dropout draws (the global RNG is
// rewound), so every gradient is bit-identical to the unrecomputed one. `forward` must capture by value
// what it reads, and what it points to (model, hook) must outlive the backward. Without grad mode it
// is just forward().
Tensor recompute_in_backward(const char* op, std::function<Tensor()> forward);

// Evaluation scope: no op records while one is alive.
struct NoGradScope {
    bool previous;
    NoGradScope();
    ~NoGradScope();
};
