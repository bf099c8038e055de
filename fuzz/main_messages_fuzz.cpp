// Client message parsers of the main channel on arbitrary bytes. Input: u16 LE
// message type, one byte choosing strict or lenient trailing-byte handling,
// then the body. A parse that succeeds must never claim bytes beyond the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>

#include "fuzz_support.hpp"
#include "reds/main_messages.hpp"

namespace {

using rs::fuzz::check;
using rs::fuzz::check_within;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const auto in = rs::fuzz::frame(data, size);
    if (!in) return 0;
    const uint16_t type = in->type;
    const auto body = in->body;
    const auto extra = in->extra;

    auto m = rs::parse_main_client_message(type, body, extra);
    if (auto *a = std::get_if<rs::msgc::main_agent_data>(&m)) check_within(a->data, body);
    if (auto *d = std::get_if<rs::msgc::migrate_data>(&m)) check_within(d->data, body);
    if (auto *q = std::get_if<rs::msgc::main_quality_indicator>(&m)) check_within(q->data, body);

    auto c = rs::parse_common_client_message(type, body, extra);
    // The common parser and the main one agree on every BaseChannel type.
    if (type < SPICE_MSGC_MAIN_CLIENT_INFO)
        check(std::holds_alternative<rs::parse_error>(c) ==
              std::holds_alternative<rs::parse_error>(m));
    return 0;
}
