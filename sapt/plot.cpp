// plot.cpp — see plot.h. A tiny raster canvas: filled rectangles and stb_easy_font text, nothing more.
#include "sapt/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>

#include "engine/error.h"
#include "engine/fileio.h"

struct Rgb { uint8_t r, g, b; };

struct Canvas {
    int width, height;
    std::vector<uint8_t> pixels;  // RGB, row-major
};

static Canvas canvas_make(int width, int height) {
    return Canvas{width, height, std::vector<uint8_t>((size_t)width * height * 3, 255)};
}

static void fill_rect(Canvas& c, int x0, int y0, int x1, int y1, Rgb color) {
    x0 = std::max(x0, 0), y0 = std::max(y0, 0), x1 = std::min(x1, c.width), y1 = std::min(y1, c.height);
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            uint8_t* p = &c.pixels[((size_t)y * c.width + x) * 3];
            p[0] = color.r, p[1] = color.g, p[2] = color.b;
        }
    }
}

// stb_easy_font turns text into axis-aligned quads (4 vertices of 16 bytes each); each quad is a rectangle.
static void draw_text(Canvas& c, int x, int y, const std::string& text, Rgb color, int scale = 1) {
    static char buffer[60000];
    int n_quads = stb_easy_font_print(0, 0, (char*)text.c_str(), nullptr, buffer, sizeof(buffer));
    for (int q = 0; q < n_quads; q++) {
        const float* v = (const float*)(buffer + q * 64);  // vertex i at v[i * 4], (x, y, z, color)
        int qx0 = (int)v[0], qy0 = (int)v[1], qx1 = (int)v[8], qy1 = (int)v[9];
        fill_rect(c, x + qx0 * scale, y + qy0 * scale, x + qx1 * scale, y + qy1 * scale, color);
    }
}

static int text_width(const std::string& text, int scale = 1) {
    return stb_easy_font_width((char*)text.c_str()) * scale;
}

static void save_png(const std::string& path, const Canvas& c) {
    std::string bytes;
    auto append = [](void* context, void* data, int size) { ((std::string*)context)->append((char*)data, size); };
    if (!stbi_write_png_to_func(append, &bytes, c.width, c.height, 3, c.pixels.data(), c.width * 3)) {
        fail(path, "PNG encoding failed");
    }
    atomic_write_file(path, bytes);
}

// White (lo) to deep blue (hi): readable in print and for colour-blind readers.
static Rgb scale_color(double value, double lo, double hi) {
    double t = hi > lo ? std::clamp((value - lo) / (hi - lo), 0.0, 1.0) : 0.0;
    return Rgb{(uint8_t)(255 - t * 222), (uint8_t)(255 - t * 153), (uint8_t)(255 - t * 75)};
}

static std::string format_value(double v) {
    char text[32];
    std::snprintf(text, sizeof text, std::fabs(v) < 10 ? "%.2f" : "%.1f", v);
    return text;
}

void write_heatmap_png(const std::string& path, const Heatmap& h) {
    const int cell_w = 64, cell_h = 28, margin_top = 40;
    int label_w = 20;
    for (const std::string& l : h.row_labels) label_w = std::max(label_w, text_width(l) + 12);
    int rows = (int)h.values.size(), cols = rows ? (int)h.values[0].size() : 0;
    int col_label_h = 24;
    // As wide as the title too: a 2 x 2 matrix would otherwise cut its title after a few letters.
    const int width = std::max(label_w + cols * cell_w + 10, text_width(h.title, 2) + 16);
    Canvas c = canvas_make(width, margin_top + col_label_h + rows * cell_h + 10);
    draw_text(c, 8, 10, h.title, Rgb{0, 0, 0}, 2);
    for (int j = 0; j < cols; j++) {
        std::string l = j < (int)h.col_labels.size() ? h.col_labels[j] : std::to_string(j + 1);
        if (text_width(l) > cell_w - 4) l = l.substr(0, 10);
        draw_text(c, label_w + j * cell_w + 3, margin_top + 6, l, Rgb{0, 0, 0});
    }
    for (int i = 0; i < rows; i++) {
        int y = margin_top + col_label_h + i * cell_h;
        if (i < (int)h.row_labels.size()) draw_text(c, 4, y + 10, h.row_labels[i], Rgb{0, 0, 0});
        for (int j = 0; j < cols; j++) {
            int x = label_w + j * cell_w;
            double v = h.values[i][j];
            if (std::isnan(v)) {
                fill_rect(c, x + 1, y + 1, x + cell_w - 1, y + cell_h - 1, Rgb{235, 235, 235});
                continue;
            }
            Rgb fill = scale_color(v, h.lo, h.hi);
            fill_rect(c, x + 1, y + 1, x + cell_w - 1, y + cell_h - 1, fill);
            bool dark = (fill.r + fill.g + fill.b) < 400;
            draw_text(c, x + 8, y + 10, format_value(v), dark ? Rgb{255, 255, 255} : Rgb{0, 0, 0});
        }
    }
    save_png(path, c);
}

// A round step for about `ticks` axis ticks over a span: 1, 2 or 5 times a power of ten.
static double tick_step(double span, int ticks) {
    const double raw = span / ticks;
    const double power = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0}) {
        if (m * power >= raw) return m * power;
    }
    return 10 * power;
}

void write_bar_chart_png(const std::string& path, const BarChart& chart) {
    static const Rgb palette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
                                  {140, 86, 75}, {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
                                  {0, 0, 0}, {100, 100, 255}};
    const int n_palette = sizeof(palette) / sizeof(palette[0]);
    const int bar_w = 14, group_gap = 30, plot_h = 260, top = 50, left = 60, legend_w = 160;
    int n_groups = (int)chart.groups.size(), n_series = (int)chart.series.size();
    const bool with_errors = !chart.errors.empty();
    if (with_errors && chart.errors.size() != chart.values.size()) {
        fail(path, "error bars for " + std::to_string(chart.errors.size()) + " groups (expected one per group, " +
                       std::to_string(chart.values.size()) + ")");
    }
    auto error_of = [&](int g, int s) {
        return with_errors && s < (int)chart.errors[(size_t)g].size() ? chart.errors[(size_t)g][(size_t)s] : NAN;
    };
    int group_w = n_series * bar_w + group_gap;
    Canvas c = canvas_make(std::max(left + n_groups * group_w + legend_w, text_width(chart.title, 2) + 16), top + plot_h + 50);
    draw_text(c, 8, 10, chart.title, Rgb{0, 0, 0}, 2);
    // The axis spans every bar and every error bar's end, and zero; its ends are whole ticks.
    double lo = 0, hi = 0;
    for (int g = 0; g < n_groups; g++) {
        for (int s = 0; s < n_series; s++) {
            const double v = chart.values[(size_t)g][(size_t)s], e = error_of(g, s);
            if (std::isnan(v)) continue;
            const double half = std::isnan(e) ? 0 : e;
            lo = std::min(lo, v - half), hi = std::max(hi, v + half);
        }
    }
    if (hi - lo < 1e-9) hi = lo + 1;
    const double step = tick_step(hi - lo, 6);
    lo = std::floor(lo / step) * step, hi = std::ceil(hi / step) * step;
    auto y_of = [&](double v) { return top + (int)std::lround((hi - v) / (hi - lo) * plot_h); };
    for (double tick = lo; tick <= hi + step / 2; tick += step) {  // grid line, tick mark and value
        const int y = y_of(tick);
        fill_rect(c, left, y, left + n_groups * group_w, y + 1, Rgb{225, 225, 225});
        fill_rect(c, left - 6, y, left - 2, y + 1, Rgb{0, 0, 0});
        char label[32];  // as many decimals as the step has: 0, 25, 50 or 0.05, 0.10
        const int decimals = std::max(0, (int)std::ceil(-std::log10(step) - 1e-9));
        std::snprintf(label, sizeof label, "%.*f", decimals, std::fabs(tick) < step / 1000 ? 0.0 : tick);
        draw_text(c, left - 8 - text_width(label), y - 3, label, Rgb{0, 0, 0});
    }
    int zero_y = y_of(0);
    fill_rect(c, left - 2, top, left, top + plot_h + 1, Rgb{0, 0, 0});
    fill_rect(c, left, zero_y, left + n_groups * group_w, zero_y + 1, Rgb{0, 0, 0});
    for (int g = 0; g < n_groups; g++) {
        int x0 = left + g * group_w + group_gap / 2;
        for (int s = 0; s < n_series; s++) {
            double v = chart.values[g][s];
            if (std::isnan(v)) continue;
            int y = y_of(v);
            fill_rect(c, x0 + s * bar_w, std::min(y, zero_y), x0 + (s + 1) * bar_w - 2, std::max(y, zero_y) + 1,
                      palette[s % n_palette]);
            const double e = error_of(g, s);
            if (std::isnan(e)) continue;
            // The error bar: a dark line from mean - std to mean + std with a cap at each end.
            const int mid = x0 + s * bar_w + (bar_w - 2) / 2, y_top = y_of(v + e), y_bottom = y_of(v - e);
            fill_rect(c, mid, y_top, mid + 1, y_bottom + 1, Rgb{40, 40, 40});
            fill_rect(c, mid - 3, y_top, mid + 4, y_top + 1, Rgb{40, 40, 40});
            fill_rect(c, mid - 3, y_bottom, mid + 4, y_bottom + 1, Rgb{40, 40, 40});
        }
        draw_text(c, x0, top + plot_h + 12, chart.groups[g], Rgb{0, 0, 0});
    }
    int legend_x = left + n_groups * group_w + 10;
    for (int s = 0; s < n_series; s++) {
        fill_rect(c, legend_x, top + s * 16, legend_x + 10, top + s * 16 + 10, palette[s % n_palette]);
        draw_text(c, legend_x + 14, top + s * 16 + 1, chart.series[s], Rgb{0, 0, 0});
    }
    if (with_errors) draw_text(c, legend_x, top + n_series * 16 + 6, "bars: mean; lines: +- 1 std", Rgb{0, 0, 0});
    save_png(path, c);
}
