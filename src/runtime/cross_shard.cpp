#include "runtime/cross_shard.hpp"

#include <pthread.h>

#include <future>
#include <string>

#include "runtime/log.hpp"

namespace rs {

shard_thread::shard_thread(shard_options opts) {
    std::promise<shard *> ready;
    auto fut = ready.get_future();
    _thread = std::thread([&ready, o = std::move(opts)]() mutable {
        // "rs-display0", "rs-control": what top -H, perf and gdb show (the
        // kernel keeps 15 bytes).
        const std::string thread_name = ("rs-" + std::string(o.name)).substr(0, 15);
        pthread_setname_np(pthread_self(), thread_name.c_str());
        std::optional<shard> s;
        try {
            s.emplace(std::move(o));
        } catch (...) {
            ready.set_exception(std::current_exception());
            return;
        }
        ready.set_value(&*s);
        s->run();
    });
    try {
        _shard = fut.get();
    } catch (...) {
        _thread.join();
        throw;
    }
}

shard_thread::~shard_thread() { stop(); }

void shard_thread::stop() {
    if (!_thread.joinable()) return;
    _shard->stop();
    _thread.join();
}

} // namespace rs
