// Logging: one line per event on stderr, "ringspice <level> [<area>] message".
// Level from RINGSPICE_LOG (error, warn, info, debug; default info). Lines that
// a client or guest can trigger at will go through log_ratelimited so a
// flood of bad input costs a few lines per second, not a disk.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

namespace rs {

enum class log_level : int { error = 0, warn = 1, info = 2, debug = 3 };

/// The process-wide threshold; read once from RINGSPICE_LOG, settable in tests.
log_level log_threshold() noexcept;
void set_log_threshold(log_level lvl) noexcept;

/// Writes one formatted line; thread-safe (a single write(2) per line).
void log_write(log_level lvl, std::string_view area, std::string_view msg) noexcept;

template <typename... Args>
void log(log_level lvl, std::string_view area, fmt::format_string<Args...> f, Args &&...args) {
    if (static_cast<int>(lvl) > static_cast<int>(log_threshold())) return;
    log_write(lvl, area, fmt::format(f, std::forward<Args>(args)...));
}

/// A token bucket for one call site: `burst` lines, then `per_second`.
/// Counts what it suppressed and reports the number with the next line.
/// Lives in a function-local static; safe from any thread.
class log_limiter {
  public:
    constexpr log_limiter(uint32_t burst = 10, uint32_t per_second = 5) noexcept
        : _burst(burst)
        , _per_second(per_second) {}
    /// True when a line may be written now; `suppressed` receives the count
    /// of lines dropped since the last one allowed.
    bool allow(uint64_t &suppressed) noexcept;

  private:
    uint32_t _burst;
    uint32_t _per_second;
    std::atomic<int64_t> _tokens_milli{-1}; // -1: not yet initialised
    std::atomic<int64_t> _last_ns{0};
    std::atomic<uint64_t> _suppressed{0};
};

} // namespace rs

#define RS_LOG_ERROR(area, ...) ::rs::log(::rs::log_level::error, area, __VA_ARGS__)
#define RS_LOG_WARN(area, ...) ::rs::log(::rs::log_level::warn, area, __VA_ARGS__)
#define RS_LOG_INFO(area, ...) ::rs::log(::rs::log_level::info, area, __VA_ARGS__)
#define RS_LOG_DEBUG(area, ...) ::rs::log(::rs::log_level::debug, area, __VA_ARGS__)

/// Rate-limited warning for anything a client or guest can trigger repeatedly.
#define RS_LOG_RATELIMITED(area, ...)                                                              \
    do {                                                                                           \
        static ::rs::log_limiter rs_limiter_;                                                      \
        uint64_t rs_suppressed_ = 0;                                                               \
        if (rs_limiter_.allow(rs_suppressed_)) {                                                   \
            ::rs::log(::rs::log_level::warn, area, __VA_ARGS__);                                   \
            if (rs_suppressed_ > 0)                                                                \
                ::rs::log(::rs::log_level::warn, area, "({} similar lines suppressed)",            \
                          rs_suppressed_);                                                         \
        }                                                                                          \
    } while (0)
