// Link handshake parsers on arbitrary client bytes. Input layout: the first
// byte picks which step's bytes follow (the same split the link coroutine
// makes), so one corpus reaches header, message, auth and reply parsing; a
// parsed message is re-encoded and must parse back to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "reds/link_protocol.hpp"

namespace {

void check(bool cond) {
    if (!cond) std::abort();
}

void fuzz_link(std::span<const uint8_t> in) {
    namespace link = rs::link;
    auto hdr =
        link::parse_header(in.first(in.size() < link::header_size ? in.size() : link::header_size));
    if (!hdr) {
        std::vector<uint8_t> out;
        rs::wire::writer w(out);
        link::encode_failure(w, hdr.error());
        return;
    }
    auto body = in.subspan(link::header_size);
    if (body.size() > hdr->size) body = body.first(hdr->size);
    auto msg = link::parse_message(body);
    if (!msg) return;
    check(msg->common_caps.num_words() <= link::max_caps_words);
    check(msg->channel_caps.num_words() <= link::max_caps_words);

    std::vector<uint8_t> out;
    rs::wire::writer w(out);
    link::encode_link_request(w, *msg);
    auto again = link::parse_message(std::span<const uint8_t>(out).subspan(link::header_size));
    check(again.ok());
    check(again->connection_id == msg->connection_id);
    check(again->channel_type == msg->channel_type && again->channel_id == msg->channel_id);
    check(again->common_caps == msg->common_caps && again->channel_caps == msg->channel_caps);

    (void)link::next_auth_step(*msg, false, false);
    (void)link::next_auth_step(*msg, true, false);
    auto rest = in.subspan(link::header_size + body.size());
    if (auto mech = link::parse_auth_mechanism(rest)) {
        (void)link::choose_auth(*mech, false);
        (void)link::choose_auth(*mech, true);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const std::span<const uint8_t> in(data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        fuzz_link(in);
        break;
    case 1:
        (void)rs::link::parse_message(in);
        break;
    default:
        (void)rs::link::parse_reply(in);
        break;
    }
    return 0;
}
