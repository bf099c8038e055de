// The agent message filter as a unit: each rule of the reference's
// agent-msg-filter under each setting, the capability rewrite, and the
// client MONITORS_CONFIG reassembly with its bounds.
#include "reds/agent_filter.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "reds/wire.hpp"

namespace {

using rs::agent_filter;
using rs::agent_filter_settings;
using rs::agent_verdict;
using rs::monitors_config_assembler;
using bytes = std::vector<uint8_t>;

/// A whole VDAgentMessage: header and `data_size` bytes of `fill`.
bytes message(uint32_t type, size_t data_size, uint8_t fill = 0xAB,
              uint32_t protocol = VD_AGENT_PROTOCOL) {
    bytes out;
    rs::write_agent_header(out, rs::agent_message_header{.protocol = protocol,
                                                         .type = type,
                                                         .opaque = 7,
                                                         .size = static_cast<uint32_t>(data_size)});
    out.insert(out.end(), data_size, fill);
    return out;
}

agent_verdict first_piece_verdict(uint32_t type, agent_filter_settings s) {
    agent_filter f(s);
    return f.process(message(type, 8));
}

constexpr agent_filter_settings all_on{
    .copypaste = true, .file_xfer = true, .client_monitors_config = false};

TEST(AgentFilter, ClipboardMessagesPassOnlyWithCopypaste) {
    for (uint32_t type : {VD_AGENT_CLIPBOARD, VD_AGENT_CLIPBOARD_GRAB, VD_AGENT_CLIPBOARD_REQUEST,
                          VD_AGENT_CLIPBOARD_RELEASE}) {
        auto off = all_on;
        off.copypaste = false;
        EXPECT_EQ(first_piece_verdict(type, all_on), agent_verdict::forward) << type;
        EXPECT_EQ(first_piece_verdict(type, off), agent_verdict::discard) << type;
        // File transfer off does not touch the clipboard.
        auto no_xfer = all_on;
        no_xfer.file_xfer = false;
        EXPECT_EQ(first_piece_verdict(type, no_xfer), agent_verdict::forward) << type;
    }
}

TEST(AgentFilter, FileTransferMessagesPassOnlyWithFileXfer) {
    for (uint32_t type :
         {VD_AGENT_FILE_XFER_START, VD_AGENT_FILE_XFER_STATUS, VD_AGENT_FILE_XFER_DATA}) {
        auto off = all_on;
        off.file_xfer = false;
        EXPECT_EQ(first_piece_verdict(type, all_on), agent_verdict::forward) << type;
        EXPECT_EQ(first_piece_verdict(type, off), agent_verdict::discard) << type;
        auto no_clip = all_on;
        no_clip.copypaste = false;
        EXPECT_EQ(first_piece_verdict(type, no_clip), agent_verdict::forward) << type;
    }
}

TEST(AgentFilter, MonitorsConfigGoesToTheQxlDevicesWhenTheyTakeIt) {
    auto qxl = all_on;
    qxl.client_monitors_config = true;
    EXPECT_EQ(first_piece_verdict(VD_AGENT_MONITORS_CONFIG, all_on), agent_verdict::forward);
    EXPECT_EQ(first_piece_verdict(VD_AGENT_MONITORS_CONFIG, qxl), agent_verdict::monitors_config);
}

TEST(AgentFilter, OtherMessagesPassWhateverTheSettings) {
    const agent_filter_settings none{
        .copypaste = false, .file_xfer = false, .client_monitors_config = true};
    for (uint32_t type :
         {uint32_t{VD_AGENT_MOUSE_STATE}, uint32_t{VD_AGENT_REPLY},
          uint32_t{VD_AGENT_DISPLAY_CONFIG}, uint32_t{VD_AGENT_ANNOUNCE_CAPABILITIES},
          uint32_t{VD_AGENT_MAX_CLIPBOARD}, uint32_t{VD_AGENT_AUDIO_VOLUME_SYNC}, uint32_t{999}})
        EXPECT_EQ(first_piece_verdict(type, none), agent_verdict::forward) << type;
}

TEST(AgentFilter, DiscardAllDropsEverything) {
    agent_filter f(all_on, /*discard_all=*/true);
    EXPECT_EQ(f.process(message(VD_AGENT_MOUSE_STATE, 13)), agent_verdict::discard);
    f.set_discard_all(false);
    EXPECT_EQ(f.process(message(VD_AGENT_MOUSE_STATE, 13)), agent_verdict::forward);
}

TEST(AgentFilter, PiecesOfOneMessageShareTheVerdictOfItsHeader) {
    auto off = all_on;
    off.copypaste = false;
    agent_filter f(off);
    const bytes m = message(VD_AGENT_CLIPBOARD, 5000);
    const std::span<const uint8_t> all(m);
    EXPECT_EQ(f.process(all.first(2048)), agent_verdict::discard);
    EXPECT_TRUE(f.mid_message());
    // The continuation would look like garbage as a header; it is data.
    EXPECT_EQ(f.process(all.subspan(2048, 2048)), agent_verdict::discard);
    EXPECT_EQ(f.process(all.subspan(4096)), agent_verdict::discard);
    EXPECT_FALSE(f.mid_message());
    EXPECT_EQ(f.process(message(VD_AGENT_MOUSE_STATE, 13)), agent_verdict::forward);
}

TEST(AgentFilter, TurningDiscardAllOnMidMessageDropsTheRest) {
    agent_filter f(all_on);
    const bytes m = message(VD_AGENT_CLIPBOARD, 3000);
    const std::span<const uint8_t> all(m);
    EXPECT_EQ(f.process(all.first(2048)), agent_verdict::forward);
    f.set_discard_all(true);
    EXPECT_EQ(f.process(all.subspan(2048)), agent_verdict::discard);
}

TEST(AgentFilter, MalformedStreamsAreProtocolErrors) {
    agent_filter f(all_on);
    const bytes header_only = message(VD_AGENT_MOUSE_STATE, 0);
    // Fewer bytes than a header.
    EXPECT_EQ(f.process(std::span(header_only).first(19)), agent_verdict::protocol_error);
    // Another protocol version.
    f.reset(all_on, false);
    EXPECT_EQ(f.process(message(VD_AGENT_MOUSE_STATE, 13, 0, 2)), agent_verdict::protocol_error);
    // A piece larger than VD_AGENT_MAX_DATA_SIZE.
    f.reset(all_on, false);
    EXPECT_EQ(f.process(message(VD_AGENT_CLIPBOARD, 2100)), agent_verdict::protocol_error);
    // More data than the header announced, in the first piece or a later one.
    f.reset(all_on, false);
    bytes over = message(VD_AGENT_MOUSE_STATE, 13);
    over.push_back(0);
    EXPECT_EQ(f.process(over), agent_verdict::protocol_error);
    f.reset(all_on, false);
    const bytes m = message(VD_AGENT_CLIPBOARD, 100);
    EXPECT_EQ(f.process(std::span(m).first(60)), agent_verdict::forward);
    EXPECT_EQ(f.process(m), agent_verdict::protocol_error); // 120 > 60 left
    EXPECT_STRNE(f.error(), "");
}

// ---- the capability rewrite ----------------------------------------------------

bytes caps_message(std::initializer_list<uint32_t> caps, size_t words = VD_AGENT_CAPS_SIZE) {
    bytes data(4 + 4 * words, 0);
    data[0] = 1; // request
    for (uint32_t c : caps)
        data[4 + 4 * (c / 32) + (c % 32) / 8] |= static_cast<uint8_t>(1u << (c % 8));
    bytes out;
    rs::write_agent_header(out,
                           rs::agent_message_header{.protocol = VD_AGENT_PROTOCOL,
                                                    .type = VD_AGENT_ANNOUNCE_CAPABILITIES,
                                                    .opaque = 0,
                                                    .size = static_cast<uint32_t>(data.size())});
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

bool has_cap(const bytes &m, uint32_t c) {
    const size_t at = 24 + 4 * (c / 32) + (c % 32) / 8;
    return at < m.size() && (m[at] & (1u << (c % 8))) != 0;
}

TEST(AgentCapabilities, ClipboardCapsAreClearedWithoutCopypaste) {
    bytes m = caps_message({VD_AGENT_CAP_CLIPBOARD, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND,
                            VD_AGENT_CAP_CLIPBOARD_SELECTION, VD_AGENT_CAP_MOUSE_STATE});
    auto off = all_on;
    off.copypaste = false;
    ASSERT_TRUE(rs::rewrite_agent_capabilities(m, off).has_value());
    EXPECT_FALSE(has_cap(m, VD_AGENT_CAP_CLIPBOARD));
    EXPECT_FALSE(has_cap(m, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND));
    EXPECT_FALSE(has_cap(m, VD_AGENT_CAP_CLIPBOARD_SELECTION));
    EXPECT_TRUE(has_cap(m, VD_AGENT_CAP_MOUSE_STATE));
    EXPECT_FALSE(has_cap(m, VD_AGENT_CAP_FILE_XFER_DISABLED));
}

TEST(AgentCapabilities, FileXferDisabledIsSetWithoutFileXfer) {
    bytes m = caps_message({VD_AGENT_CAP_CLIPBOARD});
    auto off = all_on;
    off.file_xfer = false;
    ASSERT_TRUE(rs::rewrite_agent_capabilities(m, off).has_value());
    EXPECT_TRUE(has_cap(m, VD_AGENT_CAP_FILE_XFER_DISABLED));
    EXPECT_TRUE(has_cap(m, VD_AGENT_CAP_CLIPBOARD));
}

TEST(AgentCapabilities, AllowedEverythingLeavesTheMessageAlone) {
    bytes m = caps_message({VD_AGENT_CAP_CLIPBOARD, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND});
    const bytes before = m;
    EXPECT_EQ(rs::rewrite_agent_capabilities(m, all_on), std::optional<bool>(false));
    EXPECT_EQ(m, before);
}

TEST(AgentCapabilities, ReportsTheGraphicsDeviceInfoCapability) {
    bytes with = caps_message({VD_AGENT_CAP_GRAPHICS_DEVICE_INFO});
    EXPECT_EQ(rs::rewrite_agent_capabilities(with, all_on), std::optional<bool>(true));
    bytes without = caps_message({VD_AGENT_CAP_MOUSE_STATE});
    EXPECT_EQ(rs::rewrite_agent_capabilities(without, all_on), std::optional<bool>(false));
}

TEST(AgentCapabilities, OtherMessagesAndShortCapsAreLeftAlone) {
    bytes other = message(VD_AGENT_CLIPBOARD, 8, 0xFF);
    const bytes before = other;
    auto off = all_on;
    off.copypaste = false;
    off.file_xfer = false;
    EXPECT_FALSE(rs::rewrite_agent_capabilities(other, off).has_value());
    EXPECT_EQ(other, before);
    // No caps words at all: nothing to set, nothing written past the end.
    bytes empty = caps_message({}, 0);
    const bytes empty_before = empty;
    EXPECT_EQ(rs::rewrite_agent_capabilities(empty, off), std::optional<bool>(false));
    EXPECT_EQ(empty, empty_before);
}

// ---- client MONITORS_CONFIG --------------------------------------------------------

struct mon {
    uint32_t width, height;
    int32_t x, y;
};

bytes monitors_message(const std::vector<mon> &mons, uint32_t flags, uint32_t claimed = ~0u) {
    bytes data;
    rs::wire::writer w(data);
    w.u32(claimed == ~0u ? static_cast<uint32_t>(mons.size()) : claimed);
    w.u32(flags);
    for (const auto &m : mons) {
        w.u32(m.height);
        w.u32(m.width);
        w.u32(32);
        w.i32(m.x);
        w.i32(m.y);
    }
    if (flags & VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE)
        for (const auto &m : mons) {
            w.u16(static_cast<uint16_t>(m.height / 4));
            w.u16(static_cast<uint16_t>(m.width / 4));
        }
    bytes out;
    rs::write_agent_header(out,
                           rs::agent_message_header{.protocol = VD_AGENT_PROTOCOL,
                                                    .type = VD_AGENT_MONITORS_CONFIG,
                                                    .opaque = 0,
                                                    .size = static_cast<uint32_t>(data.size())});
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

TEST(MonitorsConfig, AWholeMessageYieldsTheConfigInHostOrder) {
    monitors_config_assembler a;
    const bytes m =
        monitors_message({{1024, 768, 0, 0}, {800, 600, 1024, -10}},
                         VD_AGENT_CONFIG_MONITORS_FLAG_USE_POS | 0x80 /* unknown, masked */);
    ASSERT_EQ(a.append(m), monitors_config_assembler::status::complete);
    const VDAgentMonitorsConfig *c = a.config();
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->num_of_monitors, 2u);
    EXPECT_EQ(c->flags, uint32_t{VD_AGENT_CONFIG_MONITORS_FLAG_USE_POS});
    VDAgentMonConfig second{};
    std::memcpy(&second, reinterpret_cast<const uint8_t *>(c) + 8 + sizeof(VDAgentMonConfig),
                sizeof(second));
    EXPECT_EQ(second.width, 800u);
    EXPECT_EQ(second.height, 600u);
    EXPECT_EQ(second.x, 1024);
    EXPECT_EQ(second.y, -10);
}

TEST(MonitorsConfig, PiecesAreReassembled) {
    std::vector<mon> mons;
    for (int i = 0; i < 100; ++i)
        mons.push_back({640, 480, i * 640, 0});
    const bytes m = monitors_message(mons, VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE);
    ASSERT_GT(m.size(), 2048u);
    monitors_config_assembler a;
    const std::span<const uint8_t> all(m);
    EXPECT_EQ(a.append(all.first(10)), monitors_config_assembler::status::incomplete);
    EXPECT_EQ(a.config(), nullptr);
    EXPECT_EQ(a.append(all.subspan(10, 2038)), monitors_config_assembler::status::incomplete);
    ASSERT_EQ(a.append(all.subspan(2048)), monitors_config_assembler::status::complete);
    EXPECT_EQ(a.num_monitors(), 100u);
    // The physical sizes follow the monitors.
    VDAgentMonitorMM mm{};
    std::memcpy(&mm,
                reinterpret_cast<const uint8_t *>(a.config()) + 8 + 100 * sizeof(VDAgentMonConfig),
                sizeof(mm));
    EXPECT_EQ(mm.width, 160);
    EXPECT_EQ(mm.height, 120);
}

TEST(MonitorsConfig, MoreMonitorsThanTheDataHoldsIsInvalid) {
    monitors_config_assembler a;
    EXPECT_EQ(a.append(monitors_message({{1024, 768, 0, 0}}, 0, /*claimed=*/2)),
              monitors_config_assembler::status::invalid);
    // Physical sizes flagged but absent.
    EXPECT_EQ(a.append(monitors_message({{1024, 768, 0, 0}}, 0) /* then flag it */),
              monitors_config_assembler::status::complete);
    bytes flagged = monitors_message({{1024, 768, 0, 0}}, 0);
    flagged[24] = VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE;
    EXPECT_EQ(a.append(flagged), monitors_config_assembler::status::invalid);
}

TEST(MonitorsConfig, MessagesBeyondTheBoundAreInvalid) {
    monitors_config_assembler a;
    std::vector<mon> mons(monitors_config_assembler::max_monitors + 1, mon{640, 480, 0, 0});
    EXPECT_EQ(a.append(monitors_message(mons, 0)), monitors_config_assembler::status::invalid);
    // A header claiming more than the bound is refused at once.
    bytes big;
    rs::write_agent_header(
        big, rs::agent_message_header{.protocol = VD_AGENT_PROTOCOL,
                                      .type = VD_AGENT_MONITORS_CONFIG,
                                      .opaque = 0,
                                      .size = monitors_config_assembler::max_data_size + 1});
    EXPECT_EQ(a.append(big), monitors_config_assembler::status::invalid);
    // Too short for VDAgentMonitorsConfig itself.
    bytes tiny;
    rs::write_agent_header(tiny, rs::agent_message_header{.protocol = VD_AGENT_PROTOCOL,
                                                          .type = VD_AGENT_MONITORS_CONFIG,
                                                          .opaque = 0,
                                                          .size = 4});
    tiny.insert(tiny.end(), 4, 0);
    EXPECT_EQ(a.append(tiny), monitors_config_assembler::status::invalid);
    // After a refusal the assembler starts over.
    EXPECT_EQ(a.append(monitors_message({{1024, 768, 0, 0}}, 0)),
              monitors_config_assembler::status::complete);
}

} // namespace
