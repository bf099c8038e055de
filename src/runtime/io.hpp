// Awaitables for single io_uring operations. Each is one SQE whose user_data
// points at the awaitable (a completion); the CQE resumes the awaiting
// coroutine on the next turn of its shard. Kernel errors become error values
// here and nowhere else.
//
// Cancellation: pass a std::stop_token. request_stop() on the owning shard's
// thread queues an ASYNC_CANCEL for the SQE; the operation then completes with
// errc::cancelled. Buffers stay valid until then because the awaiting frame
// is suspended until the CQE arrives. Stop sources are shard-local: to cancel
// from another thread, post the request_stop() to the shard.
#pragma once

#include <linux/time_types.h>
#include <sys/socket.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <optional>
#include <span>
#include <stop_token>

#include "runtime/result.hpp"
#include "runtime/shard.hpp"

namespace rs {

/// Common part of every single-SQE awaitable. Lives in the awaiting frame
/// (the co_await temporary) and on that frame's shard.
class io_op : public completion {
  public:
    explicit io_op(std::stop_token st) noexcept
        : _st(std::move(st)) {}
    io_op(const io_op &) = delete;
    io_op &operator=(const io_op &) = delete;

    bool await_ready() noexcept {
        if (!_st.stop_requested()) return false;
        _res = -ECANCELED;
        return true;
    }
    void await_suspend(std::coroutine_handle<> h);
    void complete(int res, uint32_t flags) noexcept override;

  protected:
    ~io_op() = default;
    virtual void prep(io_uring_sqe *sqe) = 0;
    /// Called for each CQE; returns true when the operation is finished.
    virtual bool on_cqe(int res, uint32_t flags) noexcept {
        (void)flags;
        _res = res;
        return true;
    }
    int _res = 0;

  private:
    struct canceller {
        io_op *op;
        void operator()() const noexcept;
    };
    std::stop_token _st;
    std::optional<std::stop_callback<canceller>> _cb;
    std::coroutine_handle<> _h;
    shard *_shard = nullptr;
};

/// `co_await recv(fd, buf)`: one recv(2). A zero-byte read is errc::eof.
class recv_op final : public io_op {
  public:
    recv_op(int fd, std::span<std::byte> buf, std::stop_token st = {}) noexcept
        : io_op(std::move(st))
        , _fd(fd)
        , _buf(buf) {}
    result<size_t> await_resume() const noexcept;

  private:
    void prep(io_uring_sqe *sqe) override;
    int _fd;
    std::span<std::byte> _buf;
};

/// `co_await send(fd, bytes)`: one send(2) with MSG_NOSIGNAL; may be partial.
/// Payloads of zero_copy_threshold bytes or more go out with SEND_ZC where
/// the kernel has it; the awaiter resumes after the kernel released them.
class send_op final : public io_op {
  public:
    static constexpr size_t zero_copy_threshold = 64 * 1024;
    send_op(int fd, std::span<const std::byte> buf, std::stop_token st = {}) noexcept
        : io_op(std::move(st))
        , _fd(fd)
        , _buf(buf) {}
    result<size_t> await_resume() const noexcept;

  private:
    void prep(io_uring_sqe *sqe) override;
    bool on_cqe(int res, uint32_t flags) noexcept override;
    int _fd;
    std::span<const std::byte> _buf;
    bool _zc = false;
    bool _got_result = false;
    shard *_shard_for_retry = nullptr;
};

/// `co_await sendmsg(fd, &msg)`: gathers iovecs in one SQE; may be partial.
class sendmsg_op final : public io_op {
  public:
    sendmsg_op(int fd, const msghdr *msg, std::stop_token st = {}) noexcept
        : io_op(std::move(st))
        , _fd(fd)
        , _msg(msg) {}
    result<size_t> await_resume() const noexcept;

  private:
    void prep(io_uring_sqe *sqe) override;
    int _fd;
    const msghdr *_msg;
};

/// `co_await accept(listen_fd)`: one connection, CLOEXEC.
class accept_op final : public io_op {
  public:
    explicit accept_op(int fd, std::stop_token st = {}) noexcept
        : io_op(std::move(st))
        , _fd(fd) {}
    result<int> await_resume() const noexcept;

  private:
    void prep(io_uring_sqe *sqe) override;
    int _fd;
};

/// `co_await connect(fd, addr, len)`.
class connect_op final : public io_op {
  public:
    connect_op(int fd, const sockaddr *addr, socklen_t len, std::stop_token st = {}) noexcept
        : io_op(std::move(st))
        , _fd(fd)
        , _addr(addr)
        , _len(len) {}
    result<void> await_resume() const noexcept;

  private:
    void prep(io_uring_sqe *sqe) override;
    int _fd;
    const sockaddr *_addr;
    socklen_t _len;
};

/// `co_await sleep_for(50ms, token)`: ok when the time passed, errc::cancelled
/// when stopped first. One TIMEOUT SQE; nothing ticks while it waits.
class sleep_op final : public io_op {
  public:
    sleep_op(std::chrono::nanoseconds d, std::stop_token st = {}) noexcept;
    result<void> await_resume() const noexcept;

  private:
    void prep(io_uring_sqe *sqe) override;
    __kernel_timespec _ts{};
};

/// `co_await read_fd(fd, buf)` / `write_fd(fd, bytes)`: read(2)/write(2) on
/// eventfds, pipes, files and char devices. offset -1: the file position.
class read_op final : public io_op {
  public:
    read_op(int fd, std::span<std::byte> buf, int64_t offset = -1, std::stop_token st = {}) noexcept
        : io_op(std::move(st))
        , _fd(fd)
        , _buf(buf)
        , _offset(offset) {}
    result<size_t> await_resume() const noexcept;

  private:
    void prep(io_uring_sqe *sqe) override;
    int _fd;
    std::span<std::byte> _buf;
    int64_t _offset;
};

class write_op final : public io_op {
  public:
    write_op(int fd, std::span<const std::byte> buf, int64_t offset = -1,
             std::stop_token st = {}) noexcept
        : io_op(std::move(st))
        , _fd(fd)
        , _buf(buf)
        , _offset(offset) {}
    result<size_t> await_resume() const noexcept;

  private:
    void prep(io_uring_sqe *sqe) override;
    int _fd;
    std::span<const std::byte> _buf;
    int64_t _offset;
};

/// `co_await poll_fd(fd, POLLIN)`: waits for readiness; returns the revents.
class poll_op final : public io_op {
  public:
    poll_op(int fd, unsigned mask, std::stop_token st = {}) noexcept
        : io_op(std::move(st))
        , _fd(fd)
        , _mask(mask) {}
    result<unsigned> await_resume() const noexcept;

  private:
    void prep(io_uring_sqe *sqe) override;
    int _fd;
    unsigned _mask;
};

inline recv_op recv(int fd, std::span<std::byte> buf, std::stop_token st = {}) noexcept {
    return {fd, buf, std::move(st)};
}
inline send_op send(int fd, std::span<const std::byte> buf, std::stop_token st = {}) noexcept {
    return {fd, buf, std::move(st)};
}
inline sendmsg_op sendmsg(int fd, const msghdr *msg, std::stop_token st = {}) noexcept {
    return {fd, msg, std::move(st)};
}
inline accept_op accept(int fd, std::stop_token st = {}) noexcept {
    return accept_op{fd, std::move(st)};
}
inline connect_op connect(int fd, const sockaddr *a, socklen_t l,
                          std::stop_token st = {}) noexcept {
    return {fd, a, l, std::move(st)};
}
inline sleep_op sleep_for(std::chrono::nanoseconds d, std::stop_token st = {}) noexcept {
    return {d, std::move(st)};
}
inline read_op read_fd(int fd, std::span<std::byte> buf, std::stop_token st = {}) noexcept {
    return {fd, buf, -1, std::move(st)};
}
inline write_op write_fd(int fd, std::span<const std::byte> buf, std::stop_token st = {}) noexcept {
    return {fd, buf, -1, std::move(st)};
}
inline poll_op poll_fd(int fd, unsigned mask, std::stop_token st = {}) noexcept {
    return {fd, mask, std::move(st)};
}

/// Yields to the shard: the caller resumes on the next turn, after I/O has
/// been submitted and reaped. Long loops (an encoder over a large image) use
/// it to keep other sessions moving.
struct yield_now {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const { shard::current()->schedule(h); }
    void await_resume() const noexcept {}
};

} // namespace rs
