// Error values for the data path. A kernel error becomes a std::error_code
// once, at the awaitable boundary; end of stream and peer reset are values a
// caller tests for, never exceptions.
#pragma once

#include <cerrno>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace rs {

/// Errors the runtime itself produces (the kernel's come as std::errc).
enum class errc : int {
    eof = 1,       ///< the peer closed its side cleanly (a zero-byte read)
    cancelled,     ///< the operation was cancelled through its stop_token
    timed_out,     ///< a deadline passed
    closed,        ///< the queue, gate or object was closed
    protocol,      ///< the peer broke the protocol (set by parsers)
    not_supported, ///< the feature is not available here
};

const std::error_category &runtime_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), runtime_category()};
}

/// The kernel's negative errno as an error value; ECANCELED maps to
/// errc::cancelled so that callers test one thing for cancellation.
inline std::error_code from_errno(int negative_errno) noexcept {
    if (negative_errno == -ECANCELED) return make_error_code(errc::cancelled);
    return {-negative_errno, std::generic_category()};
}

/// True when the error means the connection is gone (EOF, reset, broken pipe):
/// the normal end of a session, logged at debug level rather than as a fault.
bool is_disconnect(const std::error_code &ec) noexcept;

/// A value or an error code. Plain, no exceptions; owns its value.
template <typename T> class [[nodiscard]] result {
  public:
    result(T v)
        : _value(std::move(v)) {} // NOLINT(google-explicit-constructor)
    result(std::error_code ec)
        : _error(ec) {} // NOLINT(google-explicit-constructor)
    result(errc e)
        : _error(make_error_code(e)) {} // NOLINT(google-explicit-constructor)

    bool ok() const noexcept { return _value.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    const std::error_code &error() const noexcept { return _error; }
    T &value() & { return *_value; }
    const T &value() const & { return *_value; }
    T &&value() && { return std::move(*_value); }
    T &operator*() & { return *_value; }
    const T &operator*() const & { return *_value; }
    T *operator->() { return &*_value; }
    const T *operator->() const { return &*_value; }

  private:
    std::optional<T> _value;
    std::error_code _error;
};

/// Success or an error code.
template <> class [[nodiscard]] result<void> {
  public:
    result() = default;
    result(std::error_code ec)
        : _error(ec) {} // NOLINT(google-explicit-constructor)
    result(errc e)
        : _error(make_error_code(e)) {} // NOLINT(google-explicit-constructor)
    bool ok() const noexcept { return !_error; }
    explicit operator bool() const noexcept { return ok(); }
    const std::error_code &error() const noexcept { return _error; }

  private:
    std::error_code _error;
};

} // namespace rs

template <> struct std::is_error_code_enum<rs::errc> : std::true_type {};
