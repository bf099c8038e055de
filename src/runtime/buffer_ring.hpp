// Provided buffer rings: receive buffers the kernel picks at completion time,
// so a connection waiting for data holds no buffer of its own.
//
// Buffer lifecycle (one buffer, over and over):
//   1. in the ring: the kernel owns it and may pick it for any recv_select
//      SQE of this ring's group that finds data;
//   2. the CQE names it (IORING_CQE_F_BUFFER, id in flags >> BUFFER_SHIFT)
//      and recv_select wraps it in a ring_buffer lease before resuming the
//      awaiting coroutine;
//   3. the coroutine reads (or edits) the bytes through the lease;
//   4. destroying the lease writes the buffer back into the ring, where the
//      kernel may pick it again.
// Everything happens on the shard the ring was created on: the ring tail is
// a plain store-release with no lock, so leases are destroyed there too.
//
// Ring empty (all buffers leased): the kernel fails the recv with ENOBUFS and
// recv_select returns std::errc::no_buffer_space. That is transient and the
// data stays queued in the socket: release leases (or `co_await yield_now{}`
// so other coroutines release theirs) and call recv_select again. We report
// instead of waiting inside the awaitable because a caller that holds every
// lease itself would otherwise wait forever.
#pragma once

// Only liburing's copy of the io_uring UAPI: the system <linux/io_uring.h>
// (Debian 12) declares io_uring_buf_ring::bufs with __DECLARE_FLEX_ARRAY,
// whose empty struct has size 1 in C++ and shifts every entry by 8 bytes.
// Both headers share one include guard, so whichever comes first wins.
#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stop_token>
#include <utility>

#include "runtime/io.hpp"
#include "runtime/result.hpp"
#include "runtime/shard.hpp"

static_assert(offsetof(io_uring_buf_ring, bufs) == 0,
              "<linux/io_uring.h> was included before <liburing.h>: its io_uring_buf_ring "
              "is misaligned in C++ (see the include above)");

namespace rs {

class buffer_ring;

/// A move-only lease on one received buffer of a buffer_ring: the bytes the
/// kernel wrote. Destroying (or reset()) it hands the buffer back to the ring.
/// Lives on the ring's shard and must not outlive the ring.
class ring_buffer {
  public:
    ring_buffer() noexcept = default;
    ring_buffer(ring_buffer &&o) noexcept
        : _ring(std::exchange(o._ring, nullptr))
        , _data(std::exchange(o._data, nullptr))
        , _len(std::exchange(o._len, 0))
        , _bid(o._bid) {}
    ring_buffer &operator=(ring_buffer &&o) noexcept {
        if (this != &o) {
            reset();
            _ring = std::exchange(o._ring, nullptr);
            _data = std::exchange(o._data, nullptr);
            _len = std::exchange(o._len, 0);
            _bid = o._bid;
        }
        return *this;
    }
    ring_buffer(const ring_buffer &) = delete;
    ring_buffer &operator=(const ring_buffer &) = delete;
    ~ring_buffer() { reset(); }

    /// The received bytes; writable so parsers can work in place.
    std::span<std::byte> bytes() const noexcept { return {_data, _len}; }
    size_t size() const noexcept { return _len; }
    bool empty() const noexcept { return _len == 0; }
    /// False for a default-constructed or moved-from lease.
    explicit operator bool() const noexcept { return _ring != nullptr; }
    /// The buffer id within its ring (for tests and diagnostics).
    uint16_t id() const noexcept { return _bid; }
    /// Returns the buffer to the ring now; the lease becomes empty.
    inline void reset() noexcept;

  private:
    friend class buffer_ring;
    ring_buffer(buffer_ring *ring, std::byte *data, uint32_t len, uint16_t bid) noexcept
        : _ring(ring)
        , _data(data)
        , _len(len)
        , _bid(bid) {}
    buffer_ring *_ring = nullptr;
    std::byte *_data = nullptr;
    uint32_t _len = 0;
    uint16_t _bid = 0;
};

/// A ring of `count` receive buffers of `buffer_size` bytes registered with
/// one shard's io_uring under a buffer group id unique on that shard. Owns
/// the memory (one anonymous mapping, outside the malloc heap) and the
/// registration. Created, used and destroyed on that shard's thread; shared
/// by many connections (e.g. all of one listener's). Destroy it only after
/// every recv_select on it has completed and every lease is gone.
///
///     auto ring = buffer_ring::create(256, 4096);   // on the shard's thread
///     if (!ring) { /* errc::not_supported: use plain recv */ }
///     auto r = co_await recv_select(fd, **ring, stop);
///     if (r) co_await send(fd, r->bytes());          // lease returns at scope end
class buffer_ring {
  public:
    /// Largest ring the kernel accepts.
    static constexpr unsigned max_count = 32768;

    /// Registers a ring on the current shard. `count` is a power of two in
    /// [1, max_count]; `buffer_size` in [1, 2^31). errc::not_supported when
    /// the shard's kernel has no buffer rings (callers use plain recv then);
    /// std::errc::invalid_argument for bad sizes; the kernel's error else.
    static result<std::unique_ptr<buffer_ring>> create(unsigned count, size_t buffer_size);

    ~buffer_ring();
    buffer_ring(const buffer_ring &) = delete;
    buffer_ring &operator=(const buffer_ring &) = delete;

    uint16_t group() const noexcept { return _group; }
    unsigned count() const noexcept { return _count; }
    size_t buffer_size() const noexcept { return _size; }
    shard &owner() const noexcept { return *_shard; }
    /// Buffers held by leases right now.
    unsigned leased() const noexcept { return _leased; }
    /// recv_select SQEs submitted and not yet completed.
    unsigned in_flight() const noexcept { return _in_flight; }
    /// Receives that failed because every buffer was leased.
    uint64_t starved() const noexcept { return _starved; }
    /// Bytes of the mapping (ring + buffers), shared by all its users.
    size_t memory_bytes() const noexcept { return _mem_len; }

  private:
    friend class ring_buffer;
    friend class recv_select_op;
    buffer_ring(shard &s, uint16_t group, unsigned count, uint32_t size, void *mem,
                size_t mem_len) noexcept;
    /// Turns the CQE's buffer id into a lease of `len` bytes.
    ring_buffer lease(uint16_t bid, uint32_t len) noexcept;
    /// Step 4 of the lifecycle: back into the ring for the kernel.
    inline void recycle(uint16_t bid) noexcept;
    std::byte *buffer(uint16_t bid) const noexcept { return _buffers + size_t{bid} * _size; }

    shard *_shard;
    void *_mem;
    size_t _mem_len;
    io_uring_buf_ring *_br;
    std::byte *_buffers;
    unsigned _count;
    uint32_t _size;
    uint16_t _group;
    unsigned _leased = 0;
    unsigned _in_flight = 0;
    uint64_t _starved = 0;
};

/// `co_await recv_select(fd, ring, stop)`: one recv SQE with IOSQE_BUFFER_SELECT;
/// the kernel picks a buffer of `ring` only when data arrives, so a pending
/// receive holds none. Yields a lease on at most ring.buffer_size() bytes.
/// A zero-byte read is errc::eof; an empty ring is std::errc::no_buffer_space
/// (see the top of this file); a stop request is errc::cancelled. Lives in the
/// awaiting frame on the ring's shard. Single-shot: one SQE, one CQE.
class recv_select_op final : public io_op {
  public:
    recv_select_op(int fd, buffer_ring &ring, std::stop_token st = {}) noexcept
        : io_op(std::move(st))
        , _fd(fd)
        , _ring(&ring) {}
    result<ring_buffer> await_resume() noexcept;

  private:
    void prep(io_uring_sqe *sqe) override;
    bool on_cqe(int res, uint32_t flags) noexcept override;
    int _fd;
    buffer_ring *_ring;
    // Owned from the CQE on, so a frame destroyed before it resumes still
    // returns the buffer.
    ring_buffer _lease;
};

inline recv_select_op recv_select(int fd, buffer_ring &ring, std::stop_token st = {}) noexcept {
    return {fd, ring, std::move(st)};
}

// Inline: it runs once per received message.
inline void buffer_ring::recycle(uint16_t bid) noexcept {
    // The slot at the tail is free: the kernel consumed it before it handed
    // this buffer to us. The release store of the tail publishes the entry.
    io_uring_buf_ring_add(_br, buffer(bid), _size, bid, io_uring_buf_ring_mask(_count), 0);
    io_uring_buf_ring_advance(_br, 1);
    --_leased;
}

inline void ring_buffer::reset() noexcept {
    if (_ring != nullptr) std::exchange(_ring, nullptr)->recycle(_bid);
    _data = nullptr;
    _len = 0;
}

} // namespace rs
