// What a client's TCP link carries, measured passively from the kernel's
// TCP_INFO (the delivery rate of recent ACKed data), so AUTO WAN settings
// can act on "low bandwidth" without the reference's 250 KB network test.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace rs {

/// One TCP_INFO reading of a socket's delivery rate. A value type.
struct link_rate_sample {
    uint64_t bytes_per_sec = 0;
    /// The sender ran out of data during the sample: the rate is only a
    /// lower bound of what the link can carry.
    bool app_limited = true;
};

/// The socket's delivery rate now, or nullopt when it is not a TCP socket
/// (a UNIX socket) or nothing has been delivered yet.
std::optional<link_rate_sample> read_link_rate(int fd) noexcept;

/// Decides whether one client's link is "low bandwidth", as the reference's
/// main channel does with its network test (below 10 Mi bits/s), from
/// passive samples instead: a sample that filled the link (not
/// app-limited) below the threshold makes it low; any sample at or above
/// 1.25 × the threshold makes it high again. App-limited samples below the
/// threshold say nothing. It starts high, as the reference does before its
/// test completes. Plain data; owned by the display channel client that
/// samples, on its shard.
class bandwidth_monitor {
  public:
    /// The reference's is_low_bandwidth threshold.
    static constexpr uint64_t low_bits_per_sec = 10ull * 1024 * 1024;

    /// Takes one sample; returns true when the decision changed.
    bool add(const link_rate_sample &s) noexcept;
    bool low() const noexcept { return _low; }
    /// The last sample's rate in bits per second (0 before any).
    uint64_t last_bits_per_sec() const noexcept { return _last_bps; }

  private:
    bool _low = false;
    uint64_t _last_bps = 0;
};

} // namespace rs
