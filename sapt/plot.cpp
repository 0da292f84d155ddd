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
    Canvas c = canvas_make(label_w + cols * cell_w + 10, margin_top + col_label_h + rows * cell_h + 10);
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

void write_bar_chart_png(const std::string& path, const BarChart& chart) {
    static const Rgb palette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
                                  {140, 86, 75}, {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
                                  {0, 0, 0}, {100, 100, 255}};
    const int n_palette = sizeof(palette) / sizeof(palette[0]);
    const int bar_w = 14, group_gap = 30, plot_h = 260, top = 50, left = 50, legend_w = 160;
    int n_groups = (int)chart.groups.size(), n_series = (int)chart.series.size();
    int group_w = n_series * bar_w + group_gap;
    Canvas c = canvas_make(left + n_groups * group_w + legend_w, top + plot_h + 50);
    draw_text(c, 8, 10, chart.title, Rgb{0, 0, 0}, 2);
    double lo = 0, hi = 0;
    for (const auto& row : chart.values) {
        for (double v : row) if (!std::isnan(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (hi - lo < 1e-9) hi = lo + 1;
    auto y_of = [&](double v) { return top + (int)std::lround((hi - v) / (hi - lo) * plot_h); };
    int zero_y = y_of(0);
    fill_rect(c, left - 2, top, left, top + plot_h, Rgb{0, 0, 0});
    fill_rect(c, left, zero_y, left + n_groups * group_w, zero_y + 1, Rgb{0, 0, 0});
    draw_text(c, 4, top - 4, format_value(hi), Rgb{0, 0, 0});
    draw_text(c, 4, top + plot_h - 4, format_value(lo), Rgb{0, 0, 0});
    for (int g = 0; g < n_groups; g++) {
        int x0 = left + g * group_w + group_gap / 2;
        for (int s = 0; s < n_series; s++) {
            double v = chart.values[g][s];
            if (std::isnan(v)) continue;
            int y = y_of(v);
            fill_rect(c, x0 + s * bar_w, std::min(y, zero_y), x0 + (s + 1) * bar_w - 2, std::max(y, zero_y) + 1,
                      palette[s % n_palette]);
        }
        draw_text(c, x0, top + plot_h + 12, chart.groups[g], Rgb{0, 0, 0});
    }
    int legend_x = left + n_groups * group_w + 10;
    for (int s = 0; s < n_series; s++) {
        fill_rect(c, legend_x, top + s * 16, legend_x + 10, top + s * 16 + 10, palette[s % n_palette]);
        draw_text(c, legend_x + 14, top + s * 16 + 1, chart.series[s], Rgb{0, 0, 0});
    }
    save_png(path, c);
}
