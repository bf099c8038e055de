#include "runtime/byte_pool.hpp"

#include <algorithm>
#include <utility>

namespace rs::byte_pool {

namespace {

using clock = std::chrono::steady_clock;

struct entry {
    std::vector<uint8_t> buf;
    clock::time_point returned;
};

// Oldest first; a handful of entries, so linear scans.
struct pool {
    pool() { entries.reserve(max_entries + 1); } // so give() never allocates
    std::vector<entry> entries;
    size_t bytes = 0;

    void drop(size_t i) noexcept {
        bytes -= entries[i].buf.capacity();
        entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));
    }
    void expire(clock::time_point now) noexcept {
        while (!entries.empty() && now - entries.front().returned > max_age)
            drop(0);
    }
};

pool &local() noexcept {
    thread_local pool p;
    return p;
}

} // namespace

std::vector<uint8_t> take(size_t capacity) {
    std::vector<uint8_t> out;
    if (capacity >= min_pooled) {
        pool &p = local();
        p.expire(clock::now());
        size_t best = p.entries.size();
        for (size_t i = 0; i < p.entries.size(); ++i) {
            const size_t c = p.entries[i].buf.capacity();
            if (c >= capacity && (best == p.entries.size() || c < p.entries[best].buf.capacity()))
                best = i;
        }
        if (best != p.entries.size()) {
            out = std::move(p.entries[best].buf);
            p.bytes -= out.capacity();
            p.entries.erase(p.entries.begin() + static_cast<std::ptrdiff_t>(best));
            return out;
        }
    }
    out.reserve(capacity);
    return out;
}

void give(std::vector<uint8_t> &&buf) noexcept {
    std::vector<uint8_t> b = std::move(buf);
    if (b.capacity() < min_pooled || b.capacity() > max_bytes) return;
    pool &p = local();
    const auto now = clock::now();
    p.expire(now);
    b.clear();
    p.bytes += b.capacity();
    p.entries.push_back(entry{std::move(b), now}); // within the reserved room
    while (p.entries.size() > max_entries || p.bytes > max_bytes)
        p.drop(0);
}

void trim(clock::time_point now) noexcept { local().expire(now); }

void trim_idle() noexcept {
    pool &p = local();
    while (p.bytes > idle_bytes) {
        size_t largest = 0;
        for (size_t i = 1; i < p.entries.size(); ++i)
            if (p.entries[i].buf.capacity() > p.entries[largest].buf.capacity()) largest = i;
        p.drop(largest);
    }
}

usage held() noexcept {
    const pool &p = local();
    return {p.entries.size(), p.bytes};
}

} // namespace rs::byte_pool
