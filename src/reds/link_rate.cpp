#include "reds/link_rate.hpp"

#include <cstddef>
#include <linux/tcp.h> // struct tcp_info with the delivery rate (glibc's is older)
#include <netinet/in.h>
#include <sys/socket.h>

namespace rs {

std::optional<link_rate_sample> read_link_rate(int fd) noexcept {
    if (fd < 0) return std::nullopt;
    tcp_info info{};
    socklen_t len = sizeof(info);
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
    // Kernels older than 4.9 fill a shorter struct without the rate.
    constexpr socklen_t needed =
        offsetof(tcp_info, tcpi_delivery_rate) + sizeof(info.tcpi_delivery_rate);
    if (len < needed || info.tcpi_delivery_rate == 0) return std::nullopt;
    return link_rate_sample{.bytes_per_sec = info.tcpi_delivery_rate,
                            .app_limited = info.tcpi_delivery_rate_app_limited != 0};
}

bool bandwidth_monitor::add(const link_rate_sample &s) noexcept {
    _last_bps = s.bytes_per_sec * 8;
    const bool was = _low;
    if (_last_bps >= low_bits_per_sec + low_bits_per_sec / 4)
        _low = false;
    else if (!s.app_limited && _last_bps < low_bits_per_sec)
        _low = true;
    return _low != was;
}

} // namespace rs
