// task<T>: the coroutine type of ringspice.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <new>
#include <string_view>
#include <utility>
#include <variant>

namespace rs {

template <typename T = void> class task;

namespace detail {

/// Live coroutine frames of task<T> (all threads): the lifetime counter the
/// tests use to prove no frame leaks. One relaxed atomic add per frame.
inline std::atomic<long> g_live_task_frames{0};

struct task_promise_base {
    /// Resumed when this task finishes: the awaiting coroutine, or nothing.
    std::coroutine_handle<> _continuation = std::noop_coroutine();
    std::exception_ptr _exception;

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaitable {
        bool await_ready() noexcept { return false; }
        // Symmetric transfer: resuming the awaiter as a tail call keeps deep
        // chains of co_await from growing the stack.
        template <typename P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            return h.promise()._continuation;
        }
        void await_resume() noexcept {}
    };
    final_awaitable final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { _exception = std::current_exception(); }

    // The promise lives exactly as long as its frame, so counting promises
    // counts frames (a custom operator new would trip a GCC 12 false
    // -Wmismatched-new-delete inside coroutines).
    task_promise_base() noexcept { g_live_task_frames.fetch_add(1, std::memory_order_relaxed); }
    ~task_promise_base() { g_live_task_frames.fetch_sub(1, std::memory_order_relaxed); }
    task_promise_base(const task_promise_base &) = delete;
    task_promise_base &operator=(const task_promise_base &) = delete;
};

template <typename T> struct task_promise final : task_promise_base {
    std::variant<std::monostate, T> _value;
    task<T> get_return_object() noexcept;
    template <typename U> void return_value(U &&v) {
        _value.template emplace<1>(std::forward<U>(v));
    }
    T take() {
        if (_exception) std::rethrow_exception(_exception);
        return std::move(std::get<1>(_value));
    }
};

template <> struct task_promise<void> final : task_promise_base {
    task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() {
        if (_exception) std::rethrow_exception(_exception);
    }
};

} // namespace detail

/// A lazy coroutine producing a T: it does not start until awaited, and the
/// awaiter is resumed by symmetric transfer when it finishes. Move-only; it
/// owns its frame and destroys it, and an exception thrown inside reaches the
/// awaiter. Runs wholly on the shard of whoever awaits it.
///
///     task<int> answer() { co_return 42; }
///     task<> user() { int v = co_await answer(); }
template <typename T> class [[nodiscard]] task {
  public:
    using promise_type = detail::task_promise<T>;
    using handle = std::coroutine_handle<promise_type>;

    task() noexcept = default;
    explicit task(handle h) noexcept
        : _h(h) {}
    task(task &&o) noexcept
        : _h(std::exchange(o._h, {})) {}
    task &operator=(task &&o) noexcept {
        if (this != &o) {
            destroy();
            _h = std::exchange(o._h, {});
        }
        return *this;
    }
    task(const task &) = delete;
    task &operator=(const task &) = delete;
    ~task() { destroy(); }

    bool valid() const noexcept { return static_cast<bool>(_h); }
    bool done() const noexcept { return !_h || _h.done(); }

    auto operator co_await() &&noexcept {
        struct awaiter {
            handle _h;
            bool await_ready() const noexcept { return !_h || _h.done(); }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
                _h.promise()._continuation = awaiting;
                return _h;
            }
            T await_resume() { return _h.promise().take(); }
        };
        return awaiter{_h};
    }

    /// For the detached runner only: releases the frame to the caller.
    handle release() noexcept { return std::exchange(_h, {}); }

  private:
    void destroy() noexcept {
        if (_h) _h.destroy();
        _h = {};
    }
    handle _h;
};

namespace detail {
template <typename T> task<T> task_promise<T>::get_return_object() noexcept {
    return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
    return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
} // namespace detail

/// Starts `t` now, on the current thread, without an awaiter. The frame frees
/// itself when the task ends; an exception is logged with `what` and goes no
/// further. Use for per-connection coroutines that a gate or stop_source
/// tracks (STYLE.md example 9).
void spawn(task<void> t, std::string_view what = "task");

/// Live task frames in the process (see detail::g_live_task_frames).
inline long live_task_frames() noexcept {
    return detail::g_live_task_frames.load(std::memory_order_relaxed);
}

} // namespace rs
