#include "runtime/log.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace rs {
namespace {

log_level parse_level() noexcept {
    const char *env = std::getenv("RINGSPICE_LOG"); // NOLINT(concurrency-mt-unsafe): read once
    if (env == nullptr) return log_level::info;
    const std::string_view v(env);
    if (v == "error") return log_level::error;
    if (v == "warn") return log_level::warn;
    if (v == "debug") return log_level::debug;
    return log_level::info;
}

std::atomic<int> &threshold() noexcept {
    static std::atomic<int> t{static_cast<int>(parse_level())};
    return t;
}

constexpr std::string_view level_name(log_level l) noexcept {
    switch (l) {
    case log_level::error:
        return "error";
    case log_level::warn:
        return "warn";
    case log_level::info:
        return "info";
    case log_level::debug:
        return "debug";
    }
    return "?";
}

} // namespace

log_level log_threshold() noexcept {
    return static_cast<log_level>(threshold().load(std::memory_order_relaxed));
}

void set_log_threshold(log_level lvl) noexcept {
    threshold().store(static_cast<int>(lvl), std::memory_order_relaxed);
}

void log_write(log_level lvl, std::string_view area, std::string_view msg) noexcept {
    try {
        std::string line = fmt::format("ringspice {} [{}] {}\n", level_name(lvl), area, msg);
        const char *p = line.data();
        size_t left = line.size();
        while (left > 0) {
            const ssize_t n = ::write(STDERR_FILENO, p, left);
            if (n <= 0) break;
            p += n;
            left -= static_cast<size_t>(n);
        }
    } catch (...) {
        // Logging never throws into the data path.
    }
}

bool log_limiter::allow(uint64_t &suppressed) noexcept {
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    int64_t expected = -1;
    if (_tokens_milli.compare_exchange_strong(expected, int64_t{_burst} * 1000))
        _last_ns.store(now);
    // Advance the clock only by the time the whole milli-tokens granted are
    // worth: the remainder carries over, so calls closer together than one
    // milli-token still add up under a sustained flood.
    int64_t last = _last_ns.load();
    int64_t refill = 0; // milli-tokens
    while (_per_second > 0 && now > last) {
        refill = (now - last) * _per_second / 1'000'000;
        if (refill <= 0) {
            refill = 0;
            break;
        }
        if (_last_ns.compare_exchange_weak(last, last + refill * 1'000'000 / _per_second)) break;
        refill = 0;
    }
    int64_t tokens = _tokens_milli.load();
    int64_t next = 0;
    do {
        next = std::min<int64_t>(tokens + refill, int64_t{_burst} * 1000);
        if (next < 1000) {
            _tokens_milli.store(next);
            _suppressed.fetch_add(1);
            return false;
        }
    } while (!_tokens_milli.compare_exchange_weak(tokens, next - 1000));
    suppressed = _suppressed.exchange(0);
    return true;
}

} // namespace rs
