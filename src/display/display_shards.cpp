#include "display/display_shards.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

namespace rs {

display_shards &display_shards::instance() {
    static display_shards pool;
    return pool;
}

size_t display_shards::default_max_shards() {
    // RINGSPICE_DISPLAY_SHARDS overrides the one-per-core default.
    if (const char *env =
            std::getenv("RINGSPICE_DISPLAY_SHARDS")) { // NOLINT(concurrency-mt-unsafe)
        const long n = std::strtol(env, nullptr, 10);
        if (n > 0) return static_cast<size_t>(n);
    }
    return std::max<size_t>(1, std::thread::hardware_concurrency());
}

shard &display_shards::acquire(shard *with) {
    std::lock_guard lk(_mutex);
    if (with != nullptr) {
        for (auto &e : _shards) {
            if (&e.thread->get() != with) continue;
            ++e.devices;
            return *with;
        }
    }
    auto least =
        std::min_element(_shards.begin(), _shards.end(),
                         [](const entry &a, const entry &b) { return a.devices < b.devices; });
    if (_shards.size() < _max && (least == _shards.end() || least->devices > 0)) {
        const std::string name = "display" + std::to_string(_shards.size());
        _shards.push_back(entry{std::make_unique<shard_thread>(shard_options{.name = name}), 0});
        least = std::prev(_shards.end());
    }
    ++least->devices;
    return least->thread->get();
}

void display_shards::release(shard &s) {
    std::lock_guard lk(_mutex);
    for (auto &e : _shards)
        if (&e.thread->get() == &s && e.devices > 0) --e.devices;
}

size_t display_shards::size() const {
    std::lock_guard lk(_mutex);
    return _shards.size();
}

} // namespace rs
