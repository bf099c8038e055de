// The acceptance test of issue 8's playback: the built demo (tools/demo, a
// VMM on the public <spice.h> API) plays a 1000 Hz tone through its playback
// interface; the in-repo client links main and playback like spice-gtk and
// hears it, once as Opus and once as raw PCM. The demo runs as a child
// process on a free loopback port and is killed on every path.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <opus/opus.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/spice_test_client.hpp"

extern char **environ;

namespace {

using namespace std::chrono_literals;
using rs::testing::spice_test_client;
using bytes = std::vector<uint8_t>;

#ifdef RS_DEMO_PATH
constexpr const char *demo_path = RS_DEMO_PATH;
#else
constexpr const char *demo_path = "";
#endif

constexpr double tone_hz = 1000;

/// A loopback port nobody listens on right now (the kernel's pick).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

/// The demo as a child process; the destructor kills it (SIGKILL) if it is
/// still running, so no test path leaves it behind.
class demo_process {
  public:
    demo_process() = default;
    demo_process(const demo_process &) = delete;
    demo_process &operator=(const demo_process &) = delete;
    ~demo_process() {
        if (_pid > 0) {
            ::kill(_pid, SIGKILL);
            int st = 0;
            ::waitpid(_pid, &st, 0);
        }
    }

    bool spawn(const std::vector<std::string> &args) {
        std::vector<char *> argv;
        argv.push_back(const_cast<char *>(demo_path));
        for (const auto &a : args)
            argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        return ::posix_spawn(&_pid, demo_path, nullptr, nullptr, argv.data(), environ) == 0;
    }
    bool running() const noexcept { return _pid > 0; }
    /// SIGTERM, then the exit status once it ended (within ~10 s; SIGKILL
    /// after that, reported as nullopt).
    std::optional<int> terminate() {
        if (_pid <= 0) return std::nullopt;
        ::kill(_pid, SIGTERM);
        int st = 0;
        for (int i = 0; i < 200; ++i) {
            const pid_t r = ::waitpid(_pid, &st, WNOHANG);
            if (r == _pid) {
                _pid = -1;
                return st;
            }
            std::this_thread::sleep_for(50ms);
        }
        return std::nullopt; // the destructor kills it
    }

  private:
    pid_t _pid = -1;
};

uint32_t u32_at(const bytes &b, size_t at) {
    rs::wire::reader r(std::span<const uint8_t>(b).subspan(at));
    return r.u32();
}

/// Frequency of the left channel of interleaved S16 stereo, by rising zero
/// crossings.
double frequency(const std::vector<int16_t> &pcm, double rate) {
    size_t crossings = 0;
    const size_t frames = pcm.size() / 2;
    for (size_t i = 1; i < frames; ++i)
        if (pcm[2 * (i - 1)] < 0 && pcm[2 * i] >= 0) ++crossings;
    return frames == 0 ? 0 : double(crossings) * rate / double(frames);
}

/// RMS of the left channel, in S16 units.
double level(const std::vector<int16_t> &pcm) {
    double sum = 0;
    const size_t frames = pcm.size() / 2;
    for (size_t i = 0; i < frames; ++i)
        sum += double(pcm[2 * i]) * double(pcm[2 * i]);
    return frames == 0 ? 0 : std::sqrt(sum / double(frames));
}

/// What a playback client heard.
struct heard {
    uint16_t mode = 0xffff;
    uint32_t channels = 0;
    uint16_t format = 0;
    uint32_t rate = 0;
    size_t packets = 0;
    size_t max_packet = 0;    // largest DATA payload (after the time stamp)
    std::vector<int16_t> pcm; // decoded, past the first packets
    std::string error;        // why listening stopped early
};

class demo_tone_test : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(std::string_view(demo_path).size() > 0 && ::access(demo_path, X_OK) == 0)
            << "the demo binary is missing (RS_DEMO_PATH='" << demo_path
            << "'): build the ringspice-demo target";
        port = free_port();
        ASSERT_GT(port, 0);
        ASSERT_TRUE(demo.spawn(
            {"--static", "--port", std::to_string(port), "--seconds", "20", "--tone", "1000"}))
            << "cannot start " << demo_path;
        // The demo listens once its server is up: retry, bounded.
        bool up = false;
        for (int i = 0; i < 200 && !up; ++i) {
            up = main.connect(port);
            if (!up) std::this_thread::sleep_for(50ms);
        }
        ASSERT_TRUE(up) << "the demo never listened on port " << port;
        ASSERT_EQ(main.link_and_auth(spice_test_client::main_link()), SPICE_LINK_ERR_OK);
        auto init = main.read_message_of(SPICE_MSG_MAIN_INIT);
        ASSERT_TRUE(init);
        rs::wire::reader r(init->body);
        session = r.u32();
    }
    void TearDown() override {
        playback.close();
        main.close();
        if (!demo.running()) return;
        // A clean stop (playback_stop, then spice_server_destroy) exits 0.
        const auto st = demo.terminate();
        ASSERT_TRUE(st) << "the demo did not stop on SIGTERM";
        EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "demo status " << *st;
    }

    /// Links playback with `caps` and listens until `seconds` of audio were
    /// decoded after the first `skip` packets (the codec's start).
    heard listen(std::initializer_list<uint32_t> caps, double seconds, size_t skip) {
        heard h;
        if (!playback.connect(port)) {
            h.error = "cannot connect";
            return h;
        }
        auto m = spice_test_client::link_to(SPICE_CHANNEL_PLAYBACK, 0, session);
        for (auto cap : caps)
            m.channel_caps.set(cap);
        if (playback.link_and_auth(m) != SPICE_LINK_ERR_OK) {
            h.error = "link refused";
            return h;
        }
        OpusDecoder *dec = nullptr;
        bool started = false;
        // Bounded: every read waits at most the client's timeout, and the
        // message count is capped far above what `seconds` need.
        for (int i = 0; i < 20000; ++i) {
            auto msg = playback.read_message();
            if (!msg) {
                h.error = "the channel closed or went quiet";
                break;
            }
            const bytes &b = msg->body;
            if (msg->type == SPICE_MSG_PLAYBACK_MODE && b.size() >= 6) {
                h.mode = static_cast<uint16_t>(b[4] | (b[5] << 8));
            } else if (msg->type == SPICE_MSG_PLAYBACK_START && b.size() >= 14) {
                h.channels = u32_at(b, 0);
                h.format = static_cast<uint16_t>(b[4] | (b[5] << 8));
                h.rate = u32_at(b, 6);
                started = true;
                if (h.mode == SPICE_AUDIO_DATA_MODE_OPUS && dec == nullptr) {
                    int err = 0;
                    dec = opus_decoder_create(static_cast<opus_int32>(h.rate), 2, &err);
                    if (dec == nullptr) {
                        h.error = "opus_decoder_create failed";
                        break;
                    }
                }
            } else if (msg->type == SPICE_MSG_PLAYBACK_DATA) {
                if (!started || b.size() < 4) {
                    h.error = "DATA before START, or without a time stamp";
                    break;
                }
                ++h.packets;
                h.max_packet = std::max(h.max_packet, b.size() - 4);
                std::vector<int16_t> out;
                if (h.mode == SPICE_AUDIO_DATA_MODE_OPUS) {
                    out.resize(5760 * 2); // the largest Opus frame: 120 ms at 48 kHz
                    const int n =
                        opus_decode(dec, b.data() + 4, static_cast<opus_int32>(b.size() - 4),
                                    out.data(), 5760, 0);
                    if (n <= 0) {
                        h.error = "opus_decode failed: " + std::to_string(n);
                        break;
                    }
                    out.resize(size_t(n) * 2);
                } else {
                    if ((b.size() - 4) % 4 != 0) {
                        h.error = "raw DATA is not whole S16 stereo frames";
                        break;
                    }
                    out.resize((b.size() - 4) / 2);
                    rs::wire::reader r(std::span<const uint8_t>(b).subspan(4));
                    for (auto &s : out)
                        s = static_cast<int16_t>(r.u16());
                }
                if (h.packets > skip) h.pcm.insert(h.pcm.end(), out.begin(), out.end());
                if (h.rate > 0 && double(h.pcm.size() / 2) >= seconds * h.rate) break;
            }
        }
        if (dec != nullptr) opus_decoder_destroy(dec);
        return h;
    }

    demo_process demo;
    int port = 0;
    uint32_t session = 0;
    spice_test_client main;
    spice_test_client playback;
};

TEST_F(demo_tone_test, an_opus_client_hears_the_demo_tone) {
    const heard h = listen({SPICE_PLAYBACK_CAP_VOLUME, SPICE_PLAYBACK_CAP_OPUS}, 1.0, 10);
    ASSERT_EQ(h.error, "");
    EXPECT_EQ(h.mode, SPICE_AUDIO_DATA_MODE_OPUS);
    EXPECT_EQ(h.channels, 2u);
    EXPECT_EQ(h.format, SPICE_AUDIO_FMT_S16);
    EXPECT_EQ(h.rate, 48000u); // Opus runs at the demo's (the server's best) rate
    ASSERT_GE(h.pcm.size() / 2, size_t{h.rate});
    // Compressed: far below the 480 raw frames (1920 bytes) of a packet.
    EXPECT_LT(h.max_packet, 480u * 4 / 2);
    EXPECT_NEAR(frequency(h.pcm, h.rate), tone_hz, tone_hz * 0.02);
    EXPECT_GT(level(h.pcm), 1000.0) << "silence";
}

TEST_F(demo_tone_test, a_client_without_opus_hears_the_tone_as_raw_pcm) {
    const heard h = listen({SPICE_PLAYBACK_CAP_VOLUME}, 1.0, 0);
    ASSERT_EQ(h.error, "");
    EXPECT_EQ(h.mode, SPICE_AUDIO_DATA_MODE_RAW);
    EXPECT_EQ(h.channels, 2u);
    EXPECT_EQ(h.format, SPICE_AUDIO_FMT_S16);
    ASSERT_GT(h.rate, 0u);
    ASSERT_GE(h.pcm.size() / 2, size_t{h.rate});
    EXPECT_NEAR(frequency(h.pcm, h.rate), tone_hz, tone_hz * 0.02);
    EXPECT_GT(level(h.pcm), 1000.0) << "silence";
    // Both channels carry the same tone.
    bool same = true;
    for (size_t i = 0; i + 1 < h.pcm.size(); i += 2)
        same = same && h.pcm[i] == h.pcm[i + 1];
    EXPECT_TRUE(same);
}

} // namespace
