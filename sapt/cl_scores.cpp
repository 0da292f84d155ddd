// cl_scores.cpp — see cl_scores.h. Sums run over tasks left to right in doubles (Python's sum), and each
// mean is (sum) / count as in score.py, so the official values come out bit for bit.
#include "sapt/cl_scores.h"

#include <algorithm>
#include <string>

#include "engine/error.h"

ClScores cl_scores(const std::vector<std::vector<double>>& scores, const std::vector<double>& single,
                   const ClOptions& options) {
    const size_t T = scores.size();
    if (T < 2) fail("cl_scores", "need at least 2 tasks to measure forgetting (expected T >= 2, got " + std::to_string(T) + ")");
    for (size_t j = 0; j < T; j++) {
        if (scores[j].size() != T) {
            fail("cl_scores", "score matrix must be T x T (expected row " + std::to_string(j) + " of length " +
                                  std::to_string(T) + ", got " + std::to_string(scores[j].size()) + ")");
        }
    }
    if (!options.compat_official && single.size() != T) {
        fail("cl_scores", "FWT needs one single-task score per task (expected " + std::to_string(T) + ", got " +
                              std::to_string(single.size()) + ")");
    }
    const std::vector<double>& last = scores[T - 1];
    ClScores out;

    double final_sum = 0;
    for (size_t i = 0; i < T; i++) final_sum += last[i];
    out.ap = final_sum / (double)T;

    // F.Ra: the best score task i ever had before the last stage, minus its final score. score.py takes the
    // max over every earlier row, zero padding above the diagonal included; the paper only over the rows
    // after task i was learned (j >= i). The two agree whenever scores are >= 0.
    double forgetting_sum = 0;
    for (size_t i = 0; i + 1 < T; i++) {
        size_t first_row = options.compat_official ? 0 : i;
        double best = scores[first_row][i];
        for (size_t j = first_row + 1; j + 1 < T; j++) best = std::max(best, scores[j][i]);
        forgetting_sum += best - last[i];
    }
    out.forgetting = forgetting_sum / (double)(T - 1);

    if (options.compat_official) {
        double diagonal_sum = 0;
        for (size_t i = 0; i < T; i++) diagonal_sum += scores[i][i];
        out.forward_transfer = diagonal_sum / (double)T - options.official_fwt_constant;
        // score.py sums all T terms (the last is a[T-1][T-1] - a[T-1][T-1] = 0) and divides by T.
        double backward_sum = 0;
        for (size_t i = 0; i < T; i++) backward_sum += last[i] - scores[i][i];
        out.backward_transfer = backward_sum / (double)T;
    } else {
        double transfer_sum = 0;
        for (size_t i = 0; i < T; i++) transfer_sum += scores[i][i] - single[i];
        out.forward_transfer = transfer_sum / (double)T;
        double backward_sum = 0;
        for (size_t i = 0; i + 1 < T; i++) backward_sum += last[i] - scores[i][i];
        out.backward_transfer = backward_sum / (double)(T - 1);
    }
    return out;
}
