// adamw_scalars.h — the per-step scalars of AdamW, formed the way torch.optim.AdamW (torch 1.13
// _single_tensor_adamw) forms them: in double, as its Python floats, and only then rounded to f32
// (1 - 0.999f in f32 would be 1.3e-5 off). Shared by every backend's adamw_step so that they all
// round alike; the per-element update itself stays in each backend.
#pragma once
#include <cmath>

struct AdamWScalars {
    float decay;                   // 1 - lr * weight_decay: decoupled weight decay, applied first
    float beta1, one_minus_beta1;  // first-moment average
    float beta2, one_minus_beta2;  // second-moment average
    float step_size;               // lr / (1 - beta1^t)
    float bias_correction2_sqrt;   // sqrt(1 - beta2^t)
    float eps;
};

inline AdamWScalars adamw_scalars(double lr, double beta1, double beta2, double eps, double weight_decay, int t) {
    AdamWScalars s;
    s.decay = float(1.0 - lr * weight_decay);
    s.beta1 = float(beta1);
    s.one_minus_beta1 = float(1.0 - beta1);
    s.beta2 = float(beta2);
    s.one_minus_beta2 = float(1.0 - beta2);
    s.step_size = float(lr / (1.0 - std::pow(beta1, t)));
    s.bias_correction2_sqrt = float(std::sqrt(1.0 - std::pow(beta2, t)));
    s.eps = float(eps);
    return s;
}
