#include "heap_probe.hpp"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

namespace rs::bench {
namespace {

// A fixed open-addressing table: no allocation inside operator new.
constexpr size_t slots = 256;
struct slot {
    std::atomic<size_t> size{0};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> first_seen{0};
};
slot g_slots[slots];
std::atomic<uint64_t> g_sequence{0};
std::atomic<bool> g_open{false};

[[maybe_unused]] void record(size_t n) noexcept {
    const size_t key = n == 0 ? 1 : n;
    for (size_t i = 0; i < slots; ++i) {
        slot &s = g_slots[(key * 0x9E3779B97F4A7C15ull + i) % slots];
        size_t cur = s.size.load(std::memory_order_acquire);
        if (cur == 0) {
            size_t expected = 0;
            if (s.size.compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
                s.first_seen.store(g_sequence.fetch_add(1, std::memory_order_relaxed),
                                   std::memory_order_relaxed);
                cur = key;
            } else {
                cur = expected;
            }
        }
        if (cur == key) {
            s.count.fetch_add(1, std::memory_order_relaxed);
            return;
        }
    }
}

} // namespace

size_t heap_in_use() noexcept {
    const struct mallinfo2 mi = ::mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

void heap_window::open() noexcept {
    for (auto &s : g_slots) {
        s.size.store(0, std::memory_order_relaxed);
        s.count.store(0, std::memory_order_relaxed);
    }
    g_sequence.store(0, std::memory_order_relaxed);
    g_open.store(true, std::memory_order_release);
}

std::vector<alloc_size> heap_window::close() {
    g_open.store(false, std::memory_order_release);
    std::vector<std::pair<uint64_t, alloc_size>> seen;
    for (auto &s : g_slots) {
        const size_t size = s.size.load(std::memory_order_acquire);
        if (size != 0)
            seen.push_back({s.first_seen.load(std::memory_order_relaxed),
                            {size, s.count.load(std::memory_order_relaxed)}});
    }
    std::sort(seen.begin(), seen.end(), [](auto &a, auto &b) { return a.first < b.first; });
    std::vector<alloc_size> out;
    for (auto &p : seen)
        out.push_back(p.second);
    return out;
}

} // namespace rs::bench

// The replacement allocation functions: malloc/free, plus the histogram while
// a window is open. The array, nothrow and sized forms of the standard
// library forward to these. Not under ASan, whose own operator new must pair
// with its operator delete (the histogram then stays empty).
#if !defined(__SANITIZE_ADDRESS__)
void *operator new(std::size_t n) {
    if (rs::bench::g_open.load(std::memory_order_relaxed)) rs::bench::record(n);
    if (void *p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
#endif
