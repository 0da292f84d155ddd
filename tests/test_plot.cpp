// test_plot.cpp — the PNGs decode, and a heat-map cell is painted with the colour of its value.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <string>
#include <unistd.h>

#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#include "sapt/plot.h"

TEST_CASE("a heat-map PNG decodes and paints high values darker than low ones", "[plot]") {
    std::string path = (std::filesystem::temp_directory_path() / ("sapt_heatmap_test_" + std::to_string(getpid()) + ".png")).string();
    Heatmap h;
    h.title = "t";
    h.row_labels = {"a", "b"};
    h.col_labels = {"x", "y"};
    h.values = {{0, NAN}, {100, 50}};
    write_heatmap_png(path, h);
    int w = 0, ht = 0, channels = 0;
    unsigned char* pixels = stbi_load(path.c_str(), &w, &ht, &channels, 3);
    REQUIRE(pixels != nullptr);
    REQUIRE(w > 100);
    // Sum the brightness of the two left cells' top-left corners (row 0 value 0, row 1 value 100).
    auto brightness = [&](int x, int y) { const unsigned char* p = pixels + (y * w + x) * 3; return p[0] + p[1] + p[2]; };
    int label_w = w - 2 * 64 - 10;
    int low = brightness(label_w + 3, 40 + 24 + 3);
    int high = brightness(label_w + 3, 40 + 24 + 28 + 3);
    REQUIRE(low > high);
    stbi_image_free(pixels);
    std::filesystem::remove(path);
}

TEST_CASE("a bar chart PNG decodes", "[plot]") {
    std::string path = (std::filesystem::temp_directory_path() / ("sapt_bars_test_" + std::to_string(getpid()) + ".png")).string();
    BarChart chart{"c", {"AP", "F.Ra"}, {"sapt", "seqlora"}, {{80, 60}, {5, 30}}};
    write_bar_chart_png(path, chart);
    int w = 0, h = 0, channels = 0;
    unsigned char* pixels = stbi_load(path.c_str(), &w, &h, &channels, 3);
    REQUIRE(pixels != nullptr);
    stbi_image_free(pixels);
    std::filesystem::remove(path);
}

TEST_CASE("a bar chart draws one-std error bars and tick marks at round values", "[plot][seeds]") {
    std::string path = (std::filesystem::temp_directory_path() / ("sapt_error_bars_test_" + std::to_string(getpid()) + ".png")).string();
    auto pixel_sum = [&](const std::vector<std::vector<double>>& errors, int x, int y) {
        BarChart chart{"c", {"AP"}, {"sapt", "seqlora"}, {{50, 60}}, errors};  // seqlora's 60 fixes the axis
        write_bar_chart_png(path, chart);
        int w = 0, h = 0, channels = 0;
        unsigned char* pixels = stbi_load(path.c_str(), &w, &h, &channels, 3);
        REQUIRE(pixels != nullptr);
        const unsigned char* p = pixels + (y * w + x) * 3;
        const int sum = p[0] + p[1] + p[2];
        stbi_image_free(pixels);
        return sum;
    };
    // The layout of plot.cpp: the axis spans 0 .. 60 (a round top, ticks of 10) over 260 pixels from y = 50;
    // sapt's bar has its centre line at x = 60 + 15 + 6. Between y_of(60) = 50 and y_of(50) = 93, above the
    // bar, its error bar is the only thing drawn there.
    const int x = 81, above_bar = 70;
    const double none = NAN;
    CHECK(pixel_sum({{10, none}}, x, above_bar) == 3 * 40);   // the error bar's dark line
    CHECK(pixel_sum({}, x, above_bar) > 600);                  // no error bars: background (or a light grid line)
    CHECK(pixel_sum({{10, none}}, x + 4, above_bar) > 600);    // the line is thin: beside it, background
    CHECK(pixel_sum({{10, none}}, 55, 50 + 130) == 0);         // the tick mark of 30 (y_of(30) = 180) left of the axis
    std::filesystem::remove(path);
}
