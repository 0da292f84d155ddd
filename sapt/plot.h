// plot.h — the PNG pictures ./train leaves behind: a heat-map of a matrix (the accuracy matrix a[j][i],
// the mean selection weights per task) and a grouped bar chart (methods × scores, with optional error bars
// and a y axis with ticks at round values and grid lines). Pixels are drawn by
// hand into an RGB buffer, text with stb_easy_font's quads, and the file is encoded by stb_image_write and
// written atomically. Not here: computing what is plotted.
#pragma once
#include <string>
#include <vector>

struct Heatmap {
    std::string title;
    std::vector<std::string> row_labels, col_labels;
    std::vector<std::vector<double>> values;  // rows × cols; NaN = empty cell (e.g. not yet evaluated)
    double lo = 0, hi = 100;                  // colour scale
};
void write_heatmap_png(const std::string& path, const Heatmap& heatmap);

struct BarChart {
    std::string title;
    std::vector<std::string> groups;               // one group of bars per score (AP, F.Ra, ...)
    std::vector<std::string> series;               // one bar colour per method
    std::vector<std::vector<double>> values;       // groups × series
    std::vector<std::vector<double>> errors = {};  // groups × series: error bar half-heights (one std), or
                                                   // empty for none; NaN = no bar for that value
};
void write_bar_chart_png(const std::string& path, const BarChart& chart);
