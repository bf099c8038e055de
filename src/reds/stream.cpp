#include "reds/stream.hpp"

#include <sys/socket.h>

namespace rs {

task<result<void>> stream::read_exact(std::span<std::byte> buf, std::stop_token st) {
    while (!buf.empty()) {
        auto n = co_await read_some(buf, st);
        if (!n) co_return n.error();
        buf = buf.subspan(*n);
    }
    co_return result<void>{};
}

void stream::shutdown() noexcept {
    if (_fd) ::shutdown(_fd.get(), SHUT_RDWR);
}

task<result<size_t>> plain_stream::read_some(std::span<std::byte> buf, std::stop_token st) {
    co_return co_await recv(_fd.get(), buf, std::move(st));
}

task<result<void>> plain_stream::write_all(std::span<const std::byte> buf, std::stop_token st) {
    co_return co_await send_all(_fd.get(), buf, std::move(st));
}

} // namespace rs
