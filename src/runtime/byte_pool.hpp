// Large byte buffers recycled on one thread. A full-screen picture goes
// through several multi-megabyte buffers (the surface snapshot, the codec's
// output, the marshalled message); glibc maps allocations that large afresh
// and unmaps them on free, so every picture used to fault in ~17 MB of new
// zeroed pages (~4 400 page faults, a fifth of the server's CPU for a 1080p
// first picture). Giving the buffers back here lets the next picture reuse
// pages the kernel already mapped.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rs::byte_pool {

/// Smaller buffers are not pooled: malloc recycles them without faults.
inline constexpr size_t min_pooled = size_t{256} << 10;
/// A thread keeps at most this many buffers, this many bytes in all, each
/// for at most `max_age` after it came back, and at most idle_bytes while
/// its shard waits for work (see trim_idle).
inline constexpr size_t max_entries = 4;
inline constexpr size_t max_bytes = size_t{64} << 20;
inline constexpr std::chrono::seconds max_age{3};

/// An empty vector with room for at least `capacity` bytes: a pooled one of
/// this thread when one is large enough (the smallest such), else a new
/// one. Below min_pooled it is simply reserved.
std::vector<uint8_t> take(size_t capacity);

/// Returns a buffer to this thread's pool (cleared); buffers below
/// min_pooled, or beyond the limits (the oldest go first), are freed.
void give(std::vector<uint8_t> &&buf) noexcept;

/// Frees this thread's buffers given back more than max_age before `now`.
void trim(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) noexcept;

/// What a thread may keep while it waits for work: a shard calls
/// trim_idle() before it blocks, since an idle shard may not run again for
/// hours (an idle VM) and nothing else would free what it holds. Buffers of
/// a steady stream (scroll frames of a few hundred KiB) stay; a picture's
/// multi-megabyte buffers go.
inline constexpr size_t idle_bytes = size_t{1} << 20;

/// Frees this thread's largest buffers until it holds at most idle_bytes.
void trim_idle() noexcept;

/// What this thread's pool holds: buffers and their capacity in bytes.
struct usage {
    size_t buffers = 0;
    size_t bytes = 0;
};
usage held() noexcept;

} // namespace rs::byte_pool
