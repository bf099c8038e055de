// Test helper: runs a task to completion on a fresh shard owned by the
// calling thread and returns its value (or rethrows).
#pragma once

#include <optional>
#include <stdexcept>
#include <variant>

#include "runtime/shard.hpp"
#include "runtime/task.hpp"

namespace rs::testing {

template <typename T> T run_task(shard &s, task<T> t) {
    std::variant<std::monostate, std::conditional_t<std::is_void_v<T>, std::monostate, T>,
                 std::exception_ptr>
        out;
    bool finished = false;
    spawn(
        [](task<T> inner, decltype(out) &o, bool &fin, shard &sh) -> task<void> {
            try {
                if constexpr (std::is_void_v<T>) {
                    co_await std::move(inner);
                    o.template emplace<1>();
                } else {
                    o.template emplace<1>(co_await std::move(inner));
                }
            } catch (...) {
                o.template emplace<2>(std::current_exception());
            }
            fin = true;
            sh.stop();
        }(std::move(t), out, finished, s),
        "test");
    if (!finished) s.run();
    if (auto *e = std::get_if<2>(&out)) std::rethrow_exception(*e);
    if constexpr (!std::is_void_v<T>) return std::move(std::get<1>(out));
}

template <typename T> T run_task(task<T> t) {
    shard s;
    return run_task(s, std::move(t));
}

} // namespace rs::testing
