"""gen_adamw_fixture.py — records 10 steps of torch.optim.AdamW (torch 1.13) for tests/test_optim.cpp.

Three parameters of different shapes, non-zero weight decay, a different random gradient every step,
an lr that changes every step (as a schedule would set it), and one parameter whose gradient is None
for the first three steps (torch skips it, so its own step count lags behind the others).
Run: /usr/bin/python3 tests/reference/gen_adamw_fixture.py   (writes tests/fixtures/optim/adamw.json)
"""
import json
import os

import torch

STEPS = 10
LATE_PARAM = 2        # index of the parameter that has no gradient before step LATE_FROM
LATE_FROM = 4         # 1-based step at which it first gets one


def values(t):
    return t.detach().double().flatten().tolist()  # f32 values are exact as doubles


def main():
    torch.manual_seed(1234)
    shapes = [[4, 3], [5], [2, 2, 3]]
    params = [torch.nn.Parameter(torch.randn(shape)) for shape in shapes]
    hyper = dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    opt = torch.optim.AdamW(params, **hyper)

    record = {
        "hyper": {"lr": hyper["lr"], "beta1": hyper["betas"][0], "beta2": hyper["betas"][1],
                  "eps": hyper["eps"], "weight_decay": hyper["weight_decay"]},
        "shapes": shapes,
        "initial": [values(p) for p in params],
        "steps": [],
    }
    for step in range(1, STEPS + 1):
        lr = 0.01 * (1.0 + 0.1 * step)
        for group in opt.param_groups:
            group["lr"] = lr
        grads = []
        for i, p in enumerate(params):
            if i == LATE_PARAM and step < LATE_FROM:
                p.grad = None
                grads.append(None)
            else:
                # Scales spanning orders of magnitude so that both m and v matter.
                p.grad = torch.randn(p.shape) * (10.0 ** (step % 3 - 1))
                grads.append(values(p.grad))
        opt.step()
        record["steps"].append({"lr": lr, "grads": grads, "params_after": [values(p) for p in params]})

    record["final_exp_avg"] = [values(opt.state[p]["exp_avg"]) for p in params]
    record["final_exp_avg_sq"] = [values(opt.state[p]["exp_avg_sq"]) for p in params]
    record["final_param_steps"] = [int(opt.state[p]["step"].item()) for p in params]

    out = os.path.join(os.path.dirname(__file__), "..", "fixtures", "optim", "adamw.json")
    with open(out, "w") as f:
        json.dump(record, f)
    print("wrote", os.path.normpath(out), "torch", torch.__version__)


if __name__ == "__main__":
    main()
