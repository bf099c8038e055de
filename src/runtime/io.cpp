#include "runtime/io.hpp"

#include <poll.h>

#include <cassert>
#include <stdexcept>

#include "runtime/log.hpp"

namespace rs {

void io_op::await_suspend(std::coroutine_handle<> h) {
    _h = h;
    _shard = shard::current();
    if (_shard == nullptr) throw std::logic_error("io operation awaited outside a shard thread");
    io_uring_sqe *sqe = _shard->get_sqe();
    prep(sqe);
    io_uring_sqe_set_data(sqe, static_cast<completion *>(this));
    if (_st.stop_possible()) _cb.emplace(_st, canceller{this});
}

void io_op::canceller::operator()() const noexcept {
    if (!op->_shard->on_owner_thread()) {
        // A programming error (see the header): the ring is not ours to touch.
        RS_LOG_ERROR("runtime", "stop requested off the shard's thread; ignoring cancel");
        return;
    }
    try {
        op->_shard->cancel(op);
    } catch (const std::exception &e) {
        RS_LOG_ERROR("runtime", "cannot queue cancel: {}", e.what());
    }
}

void io_op::complete(int res, uint32_t flags) noexcept {
    if (!on_cqe(res, flags)) return;
    _cb.reset();
    _shard->schedule(_h);
}

namespace {

result<size_t> size_result(int res) noexcept {
    if (res < 0) return from_errno(res);
    return static_cast<size_t>(res);
}

} // namespace

void recv_op::prep(io_uring_sqe *sqe) { io_uring_prep_recv(sqe, _fd, _buf.data(), _buf.size(), 0); }

result<size_t> recv_op::await_resume() const noexcept {
    if (_res == 0 && !_buf.empty()) return errc::eof;
    return size_result(_res);
}

void send_op::prep(io_uring_sqe *sqe) {
    _shard_for_retry = shard::current();
    _zc = _buf.size() >= zero_copy_threshold && _shard_for_retry->features().send_zc;
    if (_zc)
        io_uring_prep_send_zc(sqe, _fd, _buf.data(), _buf.size(), MSG_NOSIGNAL, 0);
    else
        io_uring_prep_send(sqe, _fd, _buf.data(), _buf.size(), MSG_NOSIGNAL);
}

bool send_op::on_cqe(int res, uint32_t flags) noexcept {
    if (!_zc) {
        _res = res;
        return true;
    }
    // Zero-copy: first the result (F_MORE while a notification will follow),
    // then the notification that the kernel no longer reads our buffer.
    // Not every socket family does zero-copy (AF_UNIX answers EOPNOTSUPP):
    // then the same bytes go out the ordinary way once the kernel is done.
    if ((flags & IORING_CQE_F_NOTIF) == 0 && !_got_result) {
        _got_result = true;
        _res = res;
    }
    if ((flags & IORING_CQE_F_MORE) != 0) return false;
    if (_res == -EOPNOTSUPP) {
        _zc = false;
        io_uring_sqe *sqe = _shard_for_retry->get_sqe();
        io_uring_prep_send(sqe, _fd, _buf.data(), _buf.size(), MSG_NOSIGNAL);
        io_uring_sqe_set_data(sqe, static_cast<completion *>(this));
        return false;
    }
    return true;
}

result<size_t> send_op::await_resume() const noexcept { return size_result(_res); }

void sendmsg_op::prep(io_uring_sqe *sqe) { io_uring_prep_sendmsg(sqe, _fd, _msg, MSG_NOSIGNAL); }
result<size_t> sendmsg_op::await_resume() const noexcept { return size_result(_res); }

void accept_op::prep(io_uring_sqe *sqe) {
    io_uring_prep_accept(sqe, _fd, nullptr, nullptr, SOCK_CLOEXEC);
}
result<int> accept_op::await_resume() const noexcept {
    if (_res < 0) return from_errno(_res);
    return _res;
}

void connect_op::prep(io_uring_sqe *sqe) { io_uring_prep_connect(sqe, _fd, _addr, _len); }
result<void> connect_op::await_resume() const noexcept {
    if (_res < 0) return from_errno(_res);
    return {};
}

sleep_op::sleep_op(std::chrono::nanoseconds d, std::stop_token st) noexcept
    : io_op(std::move(st)) {
    if (d.count() < 0) d = {};
    _ts.tv_sec = static_cast<int64_t>(d.count() / 1'000'000'000);
    _ts.tv_nsec = static_cast<long long>(d.count() % 1'000'000'000);
}
void sleep_op::prep(io_uring_sqe *sqe) { io_uring_prep_timeout(sqe, &_ts, 0, 0); }
result<void> sleep_op::await_resume() const noexcept {
    if (_res == -ETIME || _res == 0) return {};
    return from_errno(_res);
}

void read_op::prep(io_uring_sqe *sqe) {
    io_uring_prep_read(sqe, _fd, _buf.data(), static_cast<unsigned>(_buf.size()),
                       static_cast<uint64_t>(_offset));
}
result<size_t> read_op::await_resume() const noexcept {
    if (_res == 0 && !_buf.empty()) return errc::eof;
    return size_result(_res);
}

void write_op::prep(io_uring_sqe *sqe) {
    io_uring_prep_write(sqe, _fd, _buf.data(), static_cast<unsigned>(_buf.size()),
                        static_cast<uint64_t>(_offset));
}
result<size_t> write_op::await_resume() const noexcept { return size_result(_res); }

void poll_op::prep(io_uring_sqe *sqe) { io_uring_prep_poll_add(sqe, _fd, _mask); }
result<unsigned> poll_op::await_resume() const noexcept {
    if (_res < 0) return from_errno(_res);
    return static_cast<unsigned>(_res);
}

} // namespace rs
