// The playback and record channels of a real rs::server on loopback, driven
// by the in-repo raw client, with fake SpicePlaybackInstance and
// SpiceRecordInstance (the real <spice.h> structs with our own interface
// tables). The VMM side calls the channels on the control shard, as the
// shim does.
#include <gtest/gtest.h>

#include <opus/opus.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <numbers>
#include <optional>
#include <thread>
#include <vector>

#include "reds/server.hpp"
#include "sound/opus_codec.hpp"
#include "sound/sound_channels.hpp"
#include "support/spice_test_client.hpp"

namespace {

using namespace std::chrono_literals;
using rs::testing::read_status;
using rs::testing::spice_test_client;
using bytes = std::vector<uint8_t>;

const SpicePlaybackInterface playback_sif = {{SPICE_INTERFACE_PLAYBACK, "fake playback",
                                              SPICE_INTERFACE_PLAYBACK_MAJOR,
                                              SPICE_INTERFACE_PLAYBACK_MINOR}};
const SpiceRecordInterface record_sif = {{SPICE_INTERFACE_RECORD, "fake record",
                                          SPICE_INTERFACE_RECORD_MAJOR,
                                          SPICE_INTERFACE_RECORD_MINOR}};

uint32_t u32_at(const bytes &b, size_t at) {
    rs::wire::reader r(std::span<const uint8_t>(b).subspan(at));
    return r.u32();
}

/// A stereo S16 sine, both channels alike, with continuous phase.
struct sine {
    double hz = 1000;
    double rate = 48000;
    uint64_t n = 0;
    uint32_t next() {
        const auto v = static_cast<int16_t>(
            std::lround(12000 * std::sin(2 * std::numbers::pi * hz * double(n++) / rate)));
        const auto u = static_cast<uint16_t>(v);
        return uint32_t{u} | (uint32_t{u} << 16);
    }
};

/// Frequency of the left channel of interleaved S16 stereo, by rising zero
/// crossings.
double frequency(const std::vector<int16_t> &pcm, double rate) {
    size_t crossings = 0;
    size_t frames = pcm.size() / 2;
    for (size_t i = 1; i < frames; ++i)
        if (pcm[2 * (i - 1)] < 0 && pcm[2 * i] >= 0) ++crossings;
    return double(crossings) * rate / double(frames);
}

class sound_channel_test : public ::testing::Test {
  protected:
    void SetUp() override {
        pb.base.sif = &playback_sif.base;
        rec.base.sif = &record_sif.base;
        srv.config().set_port(0);
        srv.config().set_addr("127.0.0.1", 0);
        srv.config().set_noauth();
        ASSERT_EQ(srv.init(nullptr), 0);
        port = srv.bound_port();
        srv.on_control([this] {
            EXPECT_EQ(srv.interfaces().add_interface(&pb.base), 0);
            EXPECT_EQ(srv.interfaces().add_interface(&rec.base), 0);
            auto &snd = rs::sound_channels::ensure(srv);
            sound = &snd;
            play = &snd.add_playback();
            record = &snd.add_record();
            play->set_rate(48000);
            record->set_rate(48000);
        });
        connect_main();
    }
    void TearDown() override {
        client.close();
        main.close();
        srv.shutdown();
    }

    void connect_main() {
        ASSERT_TRUE(main.connect(port));
        ASSERT_EQ(main.link_and_auth(spice_test_client::main_link()), SPICE_LINK_ERR_OK);
        auto init = main.read_message_of(SPICE_MSG_MAIN_INIT);
        ASSERT_TRUE(init);
        rs::wire::reader r(init->body);
        session = r.u32();
    }
    void link(spice_test_client &c, uint8_t type, std::initializer_list<uint32_t> chan_caps) {
        ASSERT_TRUE(c.connect(port));
        auto m = spice_test_client::link_to(type, 0, session);
        for (auto cap : chan_caps)
            m.channel_caps.set(cap);
        ASSERT_EQ(c.link_and_auth(m), SPICE_LINK_ERR_OK);
    }
    /// Reads the next message, which must be of `type`.
    bytes expect(spice_test_client &c, uint16_t type) {
        auto m = c.read_message();
        EXPECT_TRUE(m) << "wanted type " << type;
        if (!m) return {};
        EXPECT_EQ(m->type, type);
        return m->body;
    }
    /// The VMM: get_buffer, fill, put_samples; false when no buffer came.
    bool vmm_play(sine &s) {
        return srv.on_control([&] {
            uint32_t *buf = nullptr;
            uint32_t n = 0;
            play->get_buffer(&buf, &n);
            if (buf == nullptr) return false;
            EXPECT_EQ(n, 480u);
            for (uint32_t i = 0; i < n; ++i)
                buf[i] = s.next();
            play->put_samples(buf);
            return true;
        });
    }
    rs::playback_channel::counters play_stats() {
        return srv.on_control([this] { return play->stats(); });
    }
    /// Drains record samples until `want` frames came or 5 s passed.
    std::vector<uint32_t> vmm_record(size_t want) {
        std::vector<uint32_t> got;
        std::vector<uint32_t> buf(1000);
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
            const uint32_t n = srv.on_control([&] { return record->get_samples(buf); });
            got.insert(got.end(), buf.begin(), buf.begin() + n);
            if (n == 0) std::this_thread::sleep_for(2ms);
        }
        return got;
    }
    bool send_record_data(uint32_t time, std::span<const uint8_t> payload) {
        bytes b;
        rs::wire::writer w(b);
        w.u32(time);
        w.bytes(payload);
        return client.send_message(SPICE_MSGC_RECORD_DATA, b);
    }
    bool send_record_mode(uint16_t mode) {
        bytes b;
        rs::wire::writer w(b);
        w.u32(0);
        w.u16(mode);
        return client.send_message(SPICE_MSGC_RECORD_MODE, b);
    }
    /// The main channel still answers.
    void main_alive() {
        ASSERT_TRUE(main.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS));
        EXPECT_TRUE(main.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST));
    }

    rs::server srv;
    SpicePlaybackInstance pb{};
    SpiceRecordInstance rec{};
    rs::sound_channels *sound = nullptr;
    rs::playback_channel *play = nullptr;
    rs::record_channel *record = nullptr;
    int port = 0;
    uint32_t session = 0;
    spice_test_client main;
    spice_test_client client;
};

// ---- playback --------------------------------------------------------------------

TEST_F(sound_channel_test, playback_and_record_are_listed_with_volume_and_opus_caps) {
    ASSERT_TRUE(main.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS));
    auto list = main.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST);
    ASSERT_TRUE(list);
    EXPECT_EQ(list->body, (bytes{2, 0, 0, 0, SPICE_CHANNEL_PLAYBACK, 0, SPICE_CHANNEL_RECORD, 0}));
    link(client, SPICE_CHANNEL_PLAYBACK, {});
    ASSERT_TRUE(client.last_reply() && client.last_reply()->body);
    EXPECT_TRUE(client.last_reply()->body->channel_caps.has(SPICE_PLAYBACK_CAP_VOLUME));
    EXPECT_TRUE(client.last_reply()->body->channel_caps.has(SPICE_PLAYBACK_CAP_OPUS));
}

TEST_F(sound_channel_test, raw_playback_mode_start_data_stop) {
    link(client, SPICE_CHANNEL_PLAYBACK, {SPICE_PLAYBACK_CAP_VOLUME});
    auto mode = expect(client, SPICE_MSG_PLAYBACK_MODE);
    ASSERT_EQ(mode.size(), 6u);
    EXPECT_EQ(mode[4], SPICE_AUDIO_DATA_MODE_RAW);

    // Not started: no buffer for the VMM.
    sine s;
    EXPECT_FALSE(vmm_play(s));
    srv.on_control([this] { play->start(); });
    auto start = expect(client, SPICE_MSG_PLAYBACK_START);
    ASSERT_EQ(start.size(), 14u);
    EXPECT_EQ(u32_at(start, 0), 2u);
    EXPECT_EQ(start[4], SPICE_AUDIO_FMT_S16);
    EXPECT_EQ(u32_at(start, 6), 48000u);
    const uint32_t start_time = u32_at(start, 10);

    sine ref;
    for (int f = 0; f < 5; ++f) {
        ASSERT_TRUE(vmm_play(s));
        auto data = expect(client, SPICE_MSG_PLAYBACK_DATA);
        ASSERT_EQ(data.size(), 4u + 480 * 4);
        EXPECT_GE(u32_at(data, 0), start_time); // multimedia time, ms
        for (size_t i = 0; i < 480; ++i)
            ASSERT_EQ(u32_at(data, 4 + 4 * i), ref.next());
    }
    srv.on_control([this] { play->stop(); });
    EXPECT_TRUE(expect(client, SPICE_MSG_PLAYBACK_STOP).empty());
    EXPECT_FALSE(vmm_play(s));
}

TEST_F(sound_channel_test, opus_playback_decodes_to_the_sine) {
    link(client, SPICE_CHANNEL_PLAYBACK, {SPICE_PLAYBACK_CAP_OPUS});
    auto mode = expect(client, SPICE_MSG_PLAYBACK_MODE);
    ASSERT_EQ(mode.size(), 6u);
    EXPECT_EQ(mode[4], SPICE_AUDIO_DATA_MODE_OPUS);
    srv.on_control([this] { play->start(); });
    expect(client, SPICE_MSG_PLAYBACK_START);

    int err = 0;
    OpusDecoder *dec = opus_decoder_create(48000, 2, &err);
    ASSERT_NE(dec, nullptr);
    sine s{.hz = 1000};
    std::vector<int16_t> pcm;
    for (int f = 0; f < 60; ++f) {
        ASSERT_TRUE(vmm_play(s));
        auto data = expect(client, SPICE_MSG_PLAYBACK_DATA);
        ASSERT_GT(data.size(), 4u);
        ASSERT_LE(data.size(), 4u + rs::opus_max_packet_bytes);
        std::vector<int16_t> out(480 * 2);
        const int n = opus_decode(dec, data.data() + 4, static_cast<opus_int32>(data.size() - 4),
                                  out.data(), 480, 0);
        ASSERT_EQ(n, 480);
        if (f >= 10) pcm.insert(pcm.end(), out.begin(), out.end()); // past the codec's start
    }
    opus_decoder_destroy(dec);
    EXPECT_NEAR(frequency(pcm, 48000), 1000.0, 20.0);
}

TEST_F(sound_channel_test, compression_off_switches_an_opus_client_to_raw) {
    link(client, SPICE_CHANNEL_PLAYBACK, {SPICE_PLAYBACK_CAP_OPUS});
    EXPECT_EQ(expect(client, SPICE_MSG_PLAYBACK_MODE).at(4), SPICE_AUDIO_DATA_MODE_OPUS);
    srv.on_control([this] {
        srv.config().set_playback_compression(0);
        sound->update_playback_mode();
    });
    EXPECT_EQ(expect(client, SPICE_MSG_PLAYBACK_MODE).at(4), SPICE_AUDIO_DATA_MODE_RAW);
    srv.on_control([this] { play->start(); });
    expect(client, SPICE_MSG_PLAYBACK_START);
    sine s;
    ASSERT_TRUE(vmm_play(s));
    EXPECT_EQ(expect(client, SPICE_MSG_PLAYBACK_DATA).size(), 4u + 480 * 4);
}

TEST_F(sound_channel_test, a_late_client_hears_mode_start_volume_mute_in_order) {
    srv.on_control([this] {
        play->start();
        const std::vector<uint16_t> vol{0x1000, 0x2000};
        play->set_volume(vol);
        play->set_mute(true);
    });
    link(client, SPICE_CHANNEL_PLAYBACK, {SPICE_PLAYBACK_CAP_VOLUME});
    expect(client, SPICE_MSG_PLAYBACK_MODE);
    expect(client, SPICE_MSG_PLAYBACK_START);
    EXPECT_EQ(expect(client, SPICE_MSG_PLAYBACK_VOLUME), (bytes{2, 0x00, 0x10, 0x00, 0x20}));
    EXPECT_EQ(expect(client, SPICE_MSG_PLAYBACK_MUTE), (bytes{1}));
    // Changes reach the connected client.
    srv.on_control([this] {
        const std::vector<uint16_t> vol{0x3000};
        play->set_volume(vol);
        play->set_mute(false);
    });
    EXPECT_EQ(expect(client, SPICE_MSG_PLAYBACK_VOLUME), (bytes{1, 0x00, 0x30}));
    EXPECT_EQ(expect(client, SPICE_MSG_PLAYBACK_MUTE), (bytes{0}));
}

TEST_F(sound_channel_test, volume_mute_and_latency_need_the_client_caps) {
    link(client, SPICE_CHANNEL_PLAYBACK, {});
    expect(client, SPICE_MSG_PLAYBACK_MODE);
    srv.on_control([this] {
        const std::vector<uint16_t> vol{0x1000, 0x2000};
        play->set_volume(vol);
        play->set_mute(true);
        sound->set_playback_latency(120);
        play->start();
    });
    expect(client, SPICE_MSG_PLAYBACK_START); // nothing before it

    spice_test_client other;
    link(other, SPICE_CHANNEL_PLAYBACK, {SPICE_PLAYBACK_CAP_LATENCY});
    expect(other, SPICE_MSG_PLAYBACK_MODE);
    expect(other, SPICE_MSG_PLAYBACK_START);
    srv.on_control([this] { sound->set_playback_latency(120); });
    EXPECT_EQ(expect(other, SPICE_MSG_PLAYBACK_LATENCY), (bytes{120, 0, 0, 0}));
}

TEST_F(sound_channel_test, a_new_client_replaces_the_old_one) {
    srv.on_control([this] { play->start(); });
    link(client, SPICE_CHANNEL_PLAYBACK, {});
    expect(client, SPICE_MSG_PLAYBACK_MODE);
    expect(client, SPICE_MSG_PLAYBACK_START);
    spice_test_client second;
    link(second, SPICE_CHANNEL_PLAYBACK, {});
    expect(second, SPICE_MSG_PLAYBACK_MODE);
    expect(second, SPICE_MSG_PLAYBACK_START);
    EXPECT_EQ(client.wait_closed(), read_status::closed);
    sine s;
    ASSERT_TRUE(vmm_play(s));
    EXPECT_EQ(expect(second, SPICE_MSG_PLAYBACK_DATA).size(), 4u + 480 * 4);
    EXPECT_TRUE(play_stats().connected);
    main_alive();
}

TEST_F(sound_channel_test, buffers_are_pooled_and_dropped_without_a_client) {
    srv.on_control([this] {
        play->start();
        uint32_t *buf = nullptr;
        uint32_t n = 7;
        play->get_buffer(&buf, &n); // no client: none, as in the reference
        EXPECT_EQ(buf, nullptr);
        EXPECT_EQ(n, 0u);
    });
    link(client, SPICE_CHANNEL_PLAYBACK, {});
    expect(client, SPICE_MSG_PLAYBACK_MODE);
    expect(client, SPICE_MSG_PLAYBACK_START);
    std::vector<uint32_t *> held = srv.on_control([this] {
        std::vector<uint32_t *> out;
        for (size_t i = 0; i <= rs::playback_channel::pool_frames; ++i) {
            uint32_t *buf = nullptr;
            uint32_t n = 0;
            play->get_buffer(&buf, &n);
            out.push_back(buf);
        }
        return out;
    });
    for (size_t i = 0; i < rs::playback_channel::pool_frames; ++i)
        EXPECT_NE(held[i], nullptr);
    EXPECT_EQ(held.back(), nullptr); // bounded
    EXPECT_EQ(play_stats().lent_buffers, rs::playback_channel::pool_frames);
    // The client leaves while the VMM holds buffers: they come back and
    // their samples are dropped.
    client.close();
    for (int i = 0; i < 200 && play_stats().connected; ++i)
        std::this_thread::sleep_for(5ms);
    srv.on_control([&] {
        for (size_t i = 0; i < rs::playback_channel::pool_frames; ++i)
            play->put_samples(held[i]);
        uint32_t bogus[480] = {};
        play->put_samples(bogus); // not ours: ignored
    });
    const auto st = play_stats();
    EXPECT_FALSE(st.connected);
    EXPECT_EQ(st.lent_buffers, 0u);
    EXPECT_EQ(st.frames_sent, 0u);
}

TEST_F(sound_channel_test, a_client_that_does_not_read_drops_old_frames_not_memory) {
    link(client, SPICE_CHANNEL_PLAYBACK, {});
    expect(client, SPICE_MSG_PLAYBACK_MODE);
    srv.on_control([this] { play->start(); });
    expect(client, SPICE_MSG_PLAYBACK_START);
    // From here on the client reads nothing.
    sine s;
    // Far more than the kernel's socket buffers and the channel's 4 MiB
    // send-queue limit would hold if every frame were queued.
    constexpr int frames = 12000;
    size_t max_queued = 0;
    for (int f = 0; f < frames; ++f) {
        ASSERT_TRUE(vmm_play(s));
        if (f % 100 == 0) max_queued = std::max(max_queued, play_stats().queued_bytes);
    }
    const auto st = play_stats();
    EXPECT_TRUE(st.connected);
    EXPECT_GT(st.frames_dropped, 0u);
    EXPECT_EQ(st.frames_sent + st.frames_dropped + st.pending_frames, uint64_t{frames});
    EXPECT_LE(st.pending_frames, rs::playback_channel::max_pending_frames);
    EXPECT_LT(max_queued, rs::playback_channel::max_backlog_bytes + 2000);
    EXPECT_EQ(st.lent_buffers, 0u);
    // The client catches up: the channel is intact.
    EXPECT_EQ(expect(client, SPICE_MSG_PLAYBACK_DATA).size(), 4u + 480 * 4);
}

// ---- record ----------------------------------------------------------------------

TEST_F(sound_channel_test, record_start_and_stop_reach_the_client) {
    srv.on_control([this] { record->start(); });
    link(client, SPICE_CHANNEL_RECORD, {SPICE_RECORD_CAP_VOLUME});
    EXPECT_EQ(expect(client, SPICE_MSG_RECORD_START),
              (bytes{2, 0, 0, 0, SPICE_AUDIO_FMT_S16, 0, 0x80, 0xBB, 0, 0}));
    srv.on_control([this] {
        const std::vector<uint16_t> vol{0x4000, 0x4000};
        record->set_volume(vol);
        record->set_mute(true);
        record->stop();
    });
    EXPECT_EQ(expect(client, SPICE_MSG_RECORD_VOLUME), (bytes{2, 0, 0x40, 0, 0x40}));
    EXPECT_EQ(expect(client, SPICE_MSG_RECORD_MUTE), (bytes{1}));
    EXPECT_TRUE(expect(client, SPICE_MSG_RECORD_STOP).empty());
}

TEST_F(sound_channel_test, raw_record_data_reaches_get_samples_in_order) {
    srv.on_control([this] { record->start(); });
    link(client, SPICE_CHANNEL_RECORD, {});
    expect(client, SPICE_MSG_RECORD_START);
    // Nothing until the start cushion filled.
    EXPECT_EQ(srv.on_control([this] {
        std::vector<uint32_t> b(10);
        return record->get_samples(b);
    }),
              0u);
    ASSERT_TRUE(send_record_mode(SPICE_AUDIO_DATA_MODE_RAW));
    std::vector<uint32_t> sent;
    for (uint32_t m = 0; m < 6; ++m) {
        bytes payload;
        rs::wire::writer w(payload);
        for (uint32_t i = 0; i < 1000; ++i) {
            sent.push_back(m * 1000 + i);
            w.u32(m * 1000 + i);
        }
        ASSERT_TRUE(send_record_data(m, payload));
    }
    EXPECT_EQ(vmm_record(sent.size()), sent);
}

TEST_F(sound_channel_test, opus_record_data_is_decoded) {
    srv.on_control([this] { record->start(); });
    link(client, SPICE_CHANNEL_RECORD, {SPICE_RECORD_CAP_OPUS});
    expect(client, SPICE_MSG_RECORD_START);
    ASSERT_TRUE(send_record_mode(SPICE_AUDIO_DATA_MODE_OPUS));
    int err = 0;
    OpusEncoder *enc = opus_encoder_create(48000, 2, OPUS_APPLICATION_AUDIO, &err);
    ASSERT_NE(enc, nullptr);
    sine s{.hz = 440};
    constexpr int packets = 15; // 7200 frames: past the start cushion, within the ring
    for (int p = 0; p < packets; ++p) {
        std::vector<uint32_t> pcm(480);
        for (auto &v : pcm)
            v = s.next();
        uint8_t out[1000];
        const int n = opus_encode(enc, reinterpret_cast<const opus_int16 *>(pcm.data()), 480, out,
                                  sizeof(out));
        ASSERT_GT(n, 0);
        ASSERT_TRUE(send_record_data(static_cast<uint32_t>(p), std::span(out, size_t(n))));
    }
    opus_encoder_destroy(enc);
    const auto got = vmm_record(packets * 480);
    ASSERT_EQ(got.size(), size_t{packets} * 480);
    constexpr size_t skip = 480 * 5; // frames past the codec's start
    std::vector<int16_t> pcm((got.size() - skip) * 2);
    std::memcpy(pcm.data(), got.data() + skip, pcm.size() * sizeof(int16_t));
    EXPECT_NEAR(frequency(pcm, 48000), 440.0, 15.0);
}

TEST_F(sound_channel_test, the_record_ring_is_bounded_and_keeps_the_newest) {
    srv.on_control([this] { record->start(); });
    link(client, SPICE_CHANNEL_RECORD, {});
    expect(client, SPICE_MSG_RECORD_START);
    constexpr uint32_t total = 20000;
    for (uint32_t base = 0; base < total; base += 2000) {
        bytes payload;
        rs::wire::writer w(payload);
        for (uint32_t i = 0; i < 2000; ++i)
            w.u32(base + i);
        ASSERT_TRUE(send_record_data(base, payload));
    }
    // Wait until everything was written, then read it all.
    for (int i = 0; i < 500; ++i) {
        if (srv.on_control([this] { return record->stats().written; }) == total) break;
        std::this_thread::sleep_for(5ms);
    }
    const auto got = vmm_record(rs::record_channel::ring_samples + 100);
    ASSERT_EQ(got.size(), size_t{rs::record_channel::ring_samples});
    EXPECT_EQ(got.front(), total - rs::record_channel::ring_samples);
    EXPECT_EQ(got.back(), total - 1);
    EXPECT_EQ(srv.on_control([this] { return record->stats().overwritten; }),
              total - rs::record_channel::ring_samples);
}

TEST_F(sound_channel_test, malformed_record_messages_end_only_that_channel) {
    const std::vector<std::pair<uint16_t, bytes>> bad = {
        {SPICE_MSGC_RECORD_DATA, bytes{1, 2}},             // truncated
        {SPICE_MSGC_RECORD_MODE, bytes{0, 0, 0, 0, 2, 0}}, // CELT
        {SPICE_MSGC_RECORD_MODE, bytes{0, 0, 0, 0, 9, 0}}, // unknown mode
        {SPICE_MSGC_RECORD_START_MARK + 5, bytes{}},       // unknown type
    };
    for (const auto &[type, body] : bad) {
        spice_test_client c;
        link(c, SPICE_CHANNEL_RECORD, {});
        ASSERT_TRUE(c.send_message(type, body));
        EXPECT_EQ(c.wait_closed(), read_status::closed) << "type " << type;
    }
    // Opus garbage after an Opus MODE.
    {
        spice_test_client c;
        link(c, SPICE_CHANNEL_RECORD, {});
        bytes mode;
        rs::wire::writer w(mode);
        w.u32(0);
        w.u16(SPICE_AUDIO_DATA_MODE_OPUS);
        ASSERT_TRUE(c.send_message(SPICE_MSGC_RECORD_MODE, mode));
        ASSERT_TRUE(c.send_message(SPICE_MSGC_RECORD_DATA, bytes{0, 0, 0, 0}));
        EXPECT_EQ(c.wait_closed(), read_status::closed);
    }
    main_alive();
    // The record channel takes a new client.
    srv.on_control([this] { record->start(); });
    link(client, SPICE_CHANNEL_RECORD, {});
    expect(client, SPICE_MSG_RECORD_START);
}

} // namespace
