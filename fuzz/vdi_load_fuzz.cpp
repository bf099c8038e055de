// The VDI load client's reader (bench/vdi/vdi_load_parse.hpp) on arbitrary
// server bytes. Input: one byte choosing the read size (1..256), then the
// channel's byte stream. The stream is split twice, in one piece and in reads
// of that size; both must yield the same messages, each with a prefix of
// min(size, prefix_limit) bytes, and every decoder runs on every prefix.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "../bench/vdi/vdi_load_parse.hpp"
#include "fuzz_support.hpp"

namespace {

using rs::fuzz::check;
using rs::vdi::message_splitter;

struct seen {
    uint16_t type;
    uint32_t size;
    std::vector<uint8_t> prefix;
    bool operator==(const seen &) const = default;
};

void decode_all(uint16_t type, uint32_t size, std::span<const uint8_t> body) {
    const bool whole = body.size() == size;
    (void)rs::vdi::parse_set_ack(body);
    (void)rs::vdi::parse_ping(body);
    (void)rs::vdi::parse_main_init(body);
    (void)rs::vdi::parse_surface_create(body);
    if (auto l = rs::vdi::parse_channels_list(body, whole)) check(l->size() * 2 + 4 <= body.size());
    if (auto f = rs::vdi::parse_fill_head(body)) {
        (void)rs::vdi::is_frame_marker(*f, static_cast<uint32_t>(type) + 1);
        (void)rs::vdi::marker_latency(f->color, size);
    }
}

std::vector<seen> split(std::span<const uint8_t> stream, size_t chunk) {
    message_splitter sp;
    std::vector<seen> out;
    while (!stream.empty()) {
        const auto piece = stream.first(std::min(chunk, stream.size()));
        stream = stream.subspan(piece.size());
        const bool go = sp.feed(
            piece, [&](uint16_t type, uint32_t size, std::span<const uint8_t> body, size_t rest) {
                check(rest <= piece.size());
                check(body.size() == std::min<size_t>(size, message_splitter::prefix_limit));
                decode_all(type, size, body);
                out.push_back(seen{type, size, {body.begin(), body.end()}});
                return true;
            });
        check(go);
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const size_t chunk = size_t{data[0]} + 1;
    const std::span<const uint8_t> stream(data + 1, size - 1);
    check(split(stream, stream.size() + 1) == split(stream, chunk));
    return 0;
}
