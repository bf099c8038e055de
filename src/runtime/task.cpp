#include "runtime/task.hpp"

#include <string>

#include "runtime/log.hpp"

namespace rs {
namespace {

/// The frame of a spawned task: starts eagerly, frees itself at the end.
struct detached {
    struct promise_type {
        detached get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept {}
    };
};

detached run_detached(task<void> t, std::string what) {
    try {
        co_await std::move(t);
    } catch (const std::exception &e) {
        RS_LOG_ERROR("runtime", "{} failed: {}", what, e.what());
    } catch (...) {
        RS_LOG_ERROR("runtime", "{} failed with a non-standard exception", what);
    }
}

} // namespace

void spawn(task<void> t, std::string_view what) { run_detached(std::move(t), std::string(what)); }

} // namespace rs
