#include "runtime/cross_shard.hpp"

#include <future>

#include "runtime/log.hpp"

namespace rs {

shard_thread::shard_thread(shard_options opts) {
    std::promise<shard *> ready;
    auto fut = ready.get_future();
    _thread = std::thread([&ready, o = std::move(opts)]() mutable {
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
