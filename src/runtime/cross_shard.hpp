// Messages between shards and from foreign threads. Ownership never crosses
// implicitly: what a callable captures moves to the target shard with it.
#pragma once

#include <condition_variable>
#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include "runtime/shard.hpp"
#include "runtime/task.hpp"

namespace rs {

namespace detail {
template <typename T> struct unwrap_task { using type = T; };
template <typename T> struct unwrap_task<task<T>> { using type = T; };
template <typename F> using call_result_t = typename unwrap_task<std::invoke_result_t<F>>::type;

/// Holds a value, nothing (void) or an exception across threads.
template <typename T> struct outcome {
    std::optional<T> value;
    std::exception_ptr e;
    T take() {
        if (e) std::rethrow_exception(e);
        return std::move(*value);
    }
};
template <> struct outcome<void> {
    std::exception_ptr e;
    bool done = false;
    void take() {
        if (e) std::rethrow_exception(e);
    }
};

/// Awaits f() on the current shard and hands the outcome to `done`. A named
/// coroutine, not an immediately invoked coroutine lambda: GCC 12 destroys a
/// by-value class parameter of such a lambda twice (a shared_ptr captured by
/// `f` lost a reference; tests/runtime/shard_test.cpp pins it).
template <typename F, typename Done> task<void> await_and_report(F fn, Done done) {
    using R = call_result_t<F>;
    outcome<R> o;
    try {
        if constexpr (std::is_void_v<R>) {
            co_await fn();
        } else {
            o.value.emplace(co_await fn());
        }
    } catch (...) {
        o.e = std::current_exception();
    }
    done(std::move(o));
}

/// Runs `f` (plain or returning a task) on the current shard and hands the
/// outcome to `done`.
template <typename F, typename Done> void run_and_report(F f, Done done) {
    using R = call_result_t<F>;
    using Ret = std::invoke_result_t<F>;
    if constexpr (std::is_same_v<Ret, task<R>>) {
        spawn(await_and_report(std::move(f), std::move(done)), "submit_to");
    } else {
        outcome<R> o;
        try {
            if constexpr (std::is_void_v<R>) {
                f();
            } else {
                o.value.emplace(f());
            }
        } catch (...) {
            o.e = std::current_exception();
        }
        done(std::move(o));
    }
}
} // namespace detail

/// Awaitable: runs `f` on `target` and resumes the caller on its own shard
/// with the result (or rethrows what `f` threw). `f` may return a task.
///
///     auto count_it = [s = surface_id] { return count(s); };
///     int n = co_await submit_to(display, std::move(count_it));
///
/// Name a callable whose captures have destructors (shared_ptr, function)
/// before the co_await, as above. With GCC 12.2 such a lambda written inline
/// in the co_await operand was released once too often (a shared_ptr capture
/// freed early under ASan, in a standalone reproduction inside a named
/// coroutine; the suite's Shard.SubmitToKeepsTheCapturesOfANamedCallableAlive
/// checks the named form, and does not reproduce the inline failure).
/// Reference captures are safe either way.
template <typename Fn> auto submit_to(shard &target, Fn &&fn) {
    // By forwarding reference, not by value: GCC 12 mishandles a by-value
    // class parameter initialised from a prvalue inside a co_await operand
    // (it is released once too often); a temporary we move from is safe.
    using F = std::decay_t<Fn>;
    using R = detail::call_result_t<F>;
    // Everything lives behind one unique_ptr: GCC 12 may destroy the awaiter
    // temporary of a co_await twice, and a unique_ptr (reset on destruction
    // by libstdc++) makes the second time harmless where a lambda holding a
    // shared_ptr would drop a reference too many. The posted callables
    // carry only raw pointers to this state.
    struct state {
        shard &target;
        F f;
        detail::outcome<R> out;
    };
    struct awaiter {
        std::unique_ptr<state> st;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) {
            shard *origin = shard::current();
            if (origin == nullptr) throw std::logic_error("submit_to awaited outside a shard");
            state *s = st.get();
            s->target.post([s, origin, h] {
                detail::run_and_report(std::move(s->f), [s, origin, h](detail::outcome<R> o) {
                    detail::outcome<R> *boxed = new detail::outcome<R>(std::move(o));
                    origin->post([s, h, boxed] {
                        s->out = std::move(*boxed);
                        delete boxed;
                        h.resume();
                    });
                });
            });
        }
        R await_resume() { return st->out.take(); }
    };
    return awaiter{std::make_unique<state>(state{target, F(std::forward<Fn>(fn)), {}})};
}

/// Blocking call from a thread that is not `target`'s (a VMM vCPU thread):
/// posts `f`, waits for its outcome, returns it or rethrows. Called on
/// `target`'s own thread it runs `f` inline (waiting would deadlock); `f`
/// must not return a task there.
template <typename F> detail::call_result_t<F> call_sync(shard &target, F f) {
    using R = detail::call_result_t<F>;
    if (target.on_owner_thread()) {
        if constexpr (std::is_same_v<std::invoke_result_t<F>, task<R>>)
            throw std::logic_error("call_sync with a task on the target's own thread");
        else
            return f();
    }
    struct state {
        std::mutex m;
        std::condition_variable cv;
        bool ready = false;
        detail::outcome<R> out;
    };
    auto st = std::make_shared<state>();
    target.post([st, fn = std::move(f)]() mutable {
        detail::run_and_report(std::move(fn), [st](detail::outcome<R> o) {
            std::lock_guard lk(st->m);
            st->out = std::move(o);
            st->ready = true;
            st->cv.notify_one();
        });
    });
    std::unique_lock lk(st->m);
    st->cv.wait(lk, [&] { return st->ready; });
    return st->out.take();
}

/// A shard on a thread of its own (display shards, standalone control
/// shard). Owns the thread; the shard is built and destroyed on it.
class shard_thread {
  public:
    explicit shard_thread(shard_options opts);
    ~shard_thread();
    shard_thread(const shard_thread &) = delete;
    shard_thread &operator=(const shard_thread &) = delete;

    shard &get() noexcept { return *_shard; }
    /// Stops the loop and joins; idempotent.
    void stop();

  private:
    std::thread _thread;
    shard *_shard = nullptr;
};

} // namespace rs
