// cl_scores.h — continual-learning scores from an accuracy matrix a[j][i] = score on task i after
// training stage j (ROUGE-L for SuperNI, exact match for Long Sequence, in percent), T stages × T tasks.
// Two formula sets: the paper's (default) and score.py's cal_continue_learning_metrics (compat_official),
// whose BWT divides by T and whose FWT subtracts a debugging constant 50.94 instead of single-task scores.
#pragma once
#include <vector>

struct ClScores {
    double ap = 0;              // average performance after the last stage (score.py "Cl")
    double forgetting = 0;      // F.Ra: mean over the first T-1 tasks of (best earlier score - final score) ("Fgt")
    double forward_transfer = 0;   // FWT ("Fwt")
    double backward_transfer = 0;  // BWT ("Bwt")
};

struct ClOptions {
    bool compat_official = false;          // true: score.py's formulas, bugs included
    double official_fwt_constant = 50.94;  // what score.py subtracts for FWT under compat_official
};

// scores: T rows of T values (entries above the diagonal are ignored by the paper formulas; score.py pads
// them with 0 and its F.Ra max runs over them). single: the T single-task scores ã_i, required by the
// paper's FWT = (1/T) Σ_i (a[i][i] - ã_i); score.py ignores them. T must be at least 2.
ClScores cl_scores(const std::vector<std::vector<double>>& scores, const std::vector<double>& single,
                   const ClOptions& options = {});
