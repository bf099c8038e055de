// Client message parser of the display channel on arbitrary bytes. Input: u16
// LE message type, then the body. Each body is parsed strictly and leniently;
// a parse that succeeds must never claim bytes beyond the body, and the two
// modes may differ only by trailing bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>

#include "display/display_messages.hpp"
#include "fuzz_support.hpp"

namespace {

using rs::fuzz::check;
using rs::fuzz::check_within;

void check_views(const rs::display_client_message &m, std::span<const uint8_t> body) {
    if (auto *c = std::get_if<rs::msgc::display_preferred_video_codec_type>(&m))
        check_within(c->codecs, body);
    if (auto *d = std::get_if<rs::msgc::migrate_data>(&m)) check_within(d->data, body);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rs::wire::reader r(std::span<const uint8_t>(data, size));
    const uint16_t type = r.u16();
    if (!r.ok()) return 0;
    const auto body = r.rest();

    const auto strict = rs::parse_display_client_message(type, body, rs::extra_bytes::reject);
    const auto lenient = rs::parse_display_client_message(type, body, rs::extra_bytes::ignore);
    check_views(strict, body);
    check_views(lenient, body);
    // Whatever parses strictly parses leniently, as the same message.
    if (!std::holds_alternative<rs::parse_error>(strict)) check(strict.index() == lenient.index());
    if (auto *e = std::get_if<rs::parse_error>(&lenient)) {
        check(e->type == type);
        check(e->what != rs::parse_error::kind::trailing_bytes);
    }
    return 0;
}
