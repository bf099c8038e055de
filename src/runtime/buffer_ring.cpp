#include "runtime/buffer_ring.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "runtime/log.hpp"

namespace rs {
namespace {

/// Buffer group ids in use, per shard of this thread. Group ids are per ring,
/// and a thread owns at most a few shards (tests nest them), so a short list
/// beats a map.
struct group_use {
    const shard *s;
    uint16_t group;
};
thread_local std::vector<group_use> t_groups;

int take_group(const shard &s) {
    for (int g = 0; g <= std::numeric_limits<uint16_t>::max(); ++g) {
        const bool used = std::any_of(t_groups.begin(), t_groups.end(), [&](const group_use &u) {
            return u.s == &s && u.group == g;
        });
        if (!used) {
            t_groups.push_back({&s, static_cast<uint16_t>(g)});
            return g;
        }
    }
    return -1;
}

void drop_group(const shard &s, uint16_t group) {
    std::erase_if(t_groups, [&](const group_use &u) { return u.s == &s && u.group == group; });
}

// The shard keeps its io_uring private and exposes its fd; registering by fd
// is exactly what liburing's io_uring_(un)register_buf_ring do (the shard
// never swaps its fd for a registered ring index).
int register_ring(int ring_fd, unsigned opcode, io_uring_buf_reg &reg) {
    const long r = ::syscall(SYS_io_uring_register, ring_fd, opcode, &reg, 1);
    return r < 0 ? -errno : 0;
}

size_t page_round(size_t n) {
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    return (n + page - 1) / page * page;
}

} // namespace

result<std::unique_ptr<buffer_ring>> buffer_ring::create(unsigned count, size_t buffer_size) {
    shard *s = shard::current();
    if (s == nullptr) throw std::logic_error("buffer_ring created outside a shard thread");
    if (!s->features().buf_ring) return errc::not_supported;
    if (count == 0 || count > max_count || (count & (count - 1)) != 0 || buffer_size == 0 ||
        buffer_size > size_t{std::numeric_limits<int32_t>::max()})
        return std::make_error_code(std::errc::invalid_argument);

    // One mapping: the ring of descriptors (page-aligned, as the kernel
    // requires) followed by the buffers. Anonymous memory is outside the
    // malloc heap and costs nothing until a buffer is first written.
    const size_t ring_bytes = page_round(count * sizeof(io_uring_buf));
    const size_t mem_len = page_round(ring_bytes + size_t{count} * buffer_size);
    void *mem =
        ::mmap(nullptr, mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return std::error_code(errno, std::generic_category());

    const int group = take_group(*s);
    if (group < 0) {
        ::munmap(mem, mem_len);
        return std::make_error_code(std::errc::device_or_resource_busy); // 65536 groups live
    }
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uintptr_t>(mem);
    reg.ring_entries = count;
    reg.bgid = static_cast<uint16_t>(group);
    if (const int r = register_ring(s->fd(), IORING_REGISTER_PBUF_RING, reg); r < 0) {
        drop_group(*s, static_cast<uint16_t>(group));
        ::munmap(mem, mem_len);
        // EINVAL from a kernel that predates buffer rings despite the probe.
        if (r == -EINVAL) return errc::not_supported;
        return from_errno(r);
    }
    return std::unique_ptr<buffer_ring>(new buffer_ring(
        *s, static_cast<uint16_t>(group), count, static_cast<uint32_t>(buffer_size), mem, mem_len));
}

buffer_ring::buffer_ring(shard &s, uint16_t group, unsigned count, uint32_t size, void *mem,
                         size_t mem_len) noexcept
    : _shard(&s)
    , _mem(mem)
    , _mem_len(mem_len)
    , _br(static_cast<io_uring_buf_ring *>(mem))
    , _buffers(static_cast<std::byte *>(mem) + page_round(count * sizeof(io_uring_buf)))
    , _count(count)
    , _size(size)
    , _group(group) {
    // Step 1 of the lifecycle for every buffer: all of them start in the ring.
    io_uring_buf_ring_init(_br);
    const int mask = io_uring_buf_ring_mask(_count);
    for (unsigned i = 0; i < _count; ++i)
        io_uring_buf_ring_add(_br, buffer(static_cast<uint16_t>(i)), _size,
                              static_cast<uint16_t>(i), mask, static_cast<int>(i));
    io_uring_buf_ring_advance(_br, static_cast<int>(_count));
}

buffer_ring::~buffer_ring() {
    assert(_shard->on_owner_thread());
    if (_leased != 0 || _in_flight != 0)
        RS_LOG_ERROR("runtime",
                     "buffer_ring {} destroyed with {} leases and {} receives outstanding", _group,
                     _leased, _in_flight);
    io_uring_buf_reg reg{};
    reg.bgid = _group;
    if (const int r = register_ring(_shard->fd(), IORING_UNREGISTER_PBUF_RING, reg); r < 0)
        RS_LOG_ERROR("runtime", "buffer_ring {}: unregister failed: {}", _group, std::strerror(-r));
    drop_group(*_shard, _group);
    ::munmap(_mem, _mem_len);
}

ring_buffer buffer_ring::lease(uint16_t bid, uint32_t len) noexcept {
    assert(bid < _count);
    ++_leased;
    return ring_buffer(this, buffer(bid), std::min(len, _size), bid);
}

void recv_select_op::prep(io_uring_sqe *sqe) {
    assert(&_ring->owner() == shard::current());
    io_uring_prep_recv(sqe, _fd, nullptr, _ring->_size, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = _ring->_group;
    ++_ring->_in_flight;
}

bool recv_select_op::on_cqe(int res, uint32_t flags) noexcept {
    --_ring->_in_flight;
    _res = res;
    // Step 2: whatever the result, a buffer the kernel attached is ours now
    // and must go back; a lease guarantees it (even for a zero-byte read).
    if ((flags & IORING_CQE_F_BUFFER) != 0)
        _lease = _ring->lease(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT),
                              res > 0 ? static_cast<uint32_t>(res) : 0);
    if (res == -ENOBUFS) ++_ring->_starved;
    return true;
}

result<ring_buffer> recv_select_op::await_resume() noexcept {
    if (_res < 0) return from_errno(_res);
    if (_res == 0) return errc::eof;
    return std::move(_lease);
}

} // namespace rs
