// Driver for fuzz targets in builds without libFuzzer (gcc, CI's main build).
// Runs every file named on the command line (directories are walked), then
// -runs=N inputs derived from those seeds by a deterministic mutator, so a
// ctest run exercises each target the same way every time and ends by itself.
// The clang preset links the same targets with -fsanitize=fuzzer instead.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {

std::vector<uint8_t> read_file(const std::filesystem::path &p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void mutate(std::vector<uint8_t> &v, std::mt19937_64 &rng) {
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < edits; ++i) {
        switch (rng() % 5) {
        case 0: // flip a byte
            if (!v.empty()) v[rng() % v.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
            break;
        case 1: // set an interesting value
            if (!v.empty()) {
                static constexpr uint8_t vals[] = {0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x40};
                v[rng() % v.size()] = vals[rng() % sizeof(vals)];
            }
            break;
        case 2: // truncate
            if (!v.empty()) v.resize(rng() % v.size());
            break;
        case 3: // insert random bytes
            if (v.size() < (1u << 16)) {
                const size_t n = 1 + rng() % 16;
                const size_t at = v.empty() ? 0 : rng() % (v.size() + 1);
                std::vector<uint8_t> ins(n);
                for (auto &b : ins)
                    b = static_cast<uint8_t>(rng());
                v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), ins.begin(), ins.end());
            }
            break;
        default: // overwrite a 32-bit little-endian field with a boundary value
            if (v.size() >= 4) {
                static constexpr uint32_t vals[] = {0,           1,    0xffffffffu, 0x7fffffffu,
                                                    0x80000000u, 4096, 65536};
                const uint32_t x = vals[rng() % (sizeof(vals) / sizeof(vals[0]))];
                std::memcpy(&v[rng() % (v.size() - 3)], &x, 4);
            }
            break;
        }
    }
}

} // namespace

int main(int argc, char **argv) {
    long runs = 0;
    std::vector<std::vector<uint8_t>> seeds;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "-runs=", 6) == 0) {
            runs = std::strtol(argv[i] + 6, nullptr, 10);
            continue;
        }
        if (argv[i][0] == '-') continue; // other libFuzzer flags mean nothing here
        const std::filesystem::path p(argv[i]);
        if (std::filesystem::is_directory(p)) {
            for (const auto &e : std::filesystem::recursive_directory_iterator(p))
                if (e.is_regular_file()) seeds.push_back(read_file(e.path()));
        } else if (std::filesystem::exists(p)) {
            seeds.push_back(read_file(p));
        }
    }
    for (const auto &s : seeds)
        LLVMFuzzerTestOneInput(s.data(), s.size());
    if (seeds.empty()) seeds.emplace_back();
    std::mt19937_64 rng(0x5eed);
    for (long i = 0; i < runs; ++i) {
        auto v = seeds[rng() % seeds.size()];
        mutate(v, rng);
        LLVMFuzzerTestOneInput(v.data(), v.size());
    }
    std::printf("replayed %zu seeds and %ld generated inputs\n", seeds.size(), runs);
    return 0;
}
