#include "reds/server_config.hpp"

#include <string>

#include <gtest/gtest.h>

// Each expectation is the return value Debian's libspice-server 0.15.1
// gives for the same call (checked against the library itself), unless a
// comment says where ringspice deliberately differs.

namespace rs {
namespace {

TEST(ServerConfig, DefaultsAreThoseOfSpiceServerNew) {
    server_config c;
    EXPECT_EQ(c.port(), -1);
    EXPECT_EQ(c.tls_port(), -1);
    EXPECT_EQ(c.listen_socket_fd(), -1);
    EXPECT_EQ(c.family(), listen_family::any);
    EXPECT_TRUE(c.addr().empty());
    EXPECT_TRUE(c.ticketing_enabled());
    EXPECT_TRUE(c.ticket_password().empty());
    EXPECT_FALSE(c.sasl_enabled());
    EXPECT_EQ(c.sasl_appname(), "spice");
    EXPECT_EQ(c.default_channel_security(),
              uint32_t(SPICE_CHANNEL_SECURITY_NONE | SPICE_CHANNEL_SECURITY_SSL));
    EXPECT_EQ(c.image_compression(), SPICE_IMAGE_COMPRESSION_AUTO_GLZ);
    EXPECT_EQ(c.jpeg_compression(), SPICE_WAN_COMPRESSION_AUTO);
    EXPECT_EQ(c.zlib_glz_compression(), SPICE_WAN_COMPRESSION_AUTO);
    EXPECT_EQ(c.streaming_video(), SPICE_STREAM_VIDEO_FILTER);
    EXPECT_TRUE(c.video_codecs().empty());
    EXPECT_EQ(c.renderer_count(), 0u);
    EXPECT_TRUE(c.playback_compression());
    EXPECT_TRUE(c.agent_mouse());
    EXPECT_TRUE(c.agent_copypaste());
    EXPECT_TRUE(c.agent_file_xfer());
    EXPECT_FALSE(c.exit_on_disconnect());
    EXPECT_FALSE(c.name());
    EXPECT_FALSE(c.uuid());
    EXPECT_FALSE(c.seamless_migration());
    EXPECT_FALSE(c.migration());
    EXPECT_EQ(c.playback_rate(), 48000u);
    EXPECT_EQ(c.record_rate(), 48000u);
}

TEST(ServerConfig, CompatVersionAcceptsOnlyTheCurrentOne) {
    server_config c;
    EXPECT_EQ(c.set_compat_version(SPICE_COMPAT_VERSION_0_6), 0);
    EXPECT_EQ(c.set_compat_version(SPICE_COMPAT_VERSION_0_4), -1);
    EXPECT_EQ(c.set_compat_version(static_cast<spice_compat_version_t>(2)), -1);
    EXPECT_EQ(c.set_compat_version(static_cast<spice_compat_version_t>(-1)), -1);
}

TEST(ServerConfig, PortAcceptsZeroTo65535AndKeepsTheOldValueOtherwise) {
    server_config c;
    EXPECT_EQ(c.set_port(5900), 0);
    EXPECT_EQ(c.port(), 5900);
    EXPECT_EQ(c.set_port(-1), -1);
    EXPECT_EQ(c.set_port(65536), -1);
    EXPECT_EQ(c.port(), 5900);
    EXPECT_EQ(c.set_port(0), 0);
    EXPECT_EQ(c.port(), 0);
    EXPECT_EQ(c.set_port(65535), 0);
}

TEST(ServerConfig, AddrFlagsSelectAFamilyOnlyWhenExactlyOneIsSet) {
    server_config c;
    c.set_addr("127.0.0.1", SPICE_ADDR_FLAG_IPV4_ONLY);
    EXPECT_EQ(c.addr(), "127.0.0.1");
    EXPECT_EQ(c.family(), listen_family::ipv4);
    c.set_addr("::1", SPICE_ADDR_FLAG_IPV6_ONLY);
    EXPECT_EQ(c.family(), listen_family::ipv6);
    c.set_addr("/run/spice.sock", SPICE_ADDR_FLAG_UNIX_ONLY);
    EXPECT_EQ(c.family(), listen_family::unix_socket);
    // 0 and combinations leave the family as it was.
    c.set_addr("", 0);
    EXPECT_EQ(c.family(), listen_family::unix_socket);
    c.set_addr("x", SPICE_ADDR_FLAG_IPV4_ONLY | SPICE_ADDR_FLAG_IPV6_ONLY);
    EXPECT_EQ(c.family(), listen_family::unix_socket);
    EXPECT_EQ(c.addr(), "x");
    // A null address keeps the old one.
    c.set_addr(nullptr, SPICE_ADDR_FLAG_IPV4_ONLY);
    EXPECT_EQ(c.addr(), "x");
    EXPECT_EQ(c.family(), listen_family::ipv4);
}

TEST(ServerConfig, ListenFdAndExitOnDisconnectAlwaysSucceed) {
    server_config c;
    EXPECT_EQ(c.set_listen_socket_fd(7), 0);
    EXPECT_EQ(c.listen_socket_fd(), 7);
    EXPECT_EQ(c.set_listen_socket_fd(-5), 0);
    EXPECT_EQ(c.set_exit_on_disconnect(5), 0);
    EXPECT_TRUE(c.exit_on_disconnect());
    EXPECT_EQ(c.set_exit_on_disconnect(0), 0);
    EXPECT_FALSE(c.exit_on_disconnect());
}

TEST(ServerConfig, TicketActionWhenConnected) {
    EXPECT_EQ(ticket_action(false, 1, 1), ticket_connected_action::proceed);
    EXPECT_EQ(ticket_action(true, 1, 1), ticket_connected_action::fail);
    EXPECT_EQ(ticket_action(true, 0, 1), ticket_connected_action::disconnect_then_proceed);
    EXPECT_EQ(ticket_action(true, 0, 0), ticket_connected_action::proceed);
}

TEST(ServerConfig, TicketLifetimeZeroNeverExpiresOtherwiseNowPlusLifetime) {
    server_config c;
    EXPECT_EQ(c.set_ticket("secret", 0, 1000), 0);
    EXPECT_EQ(c.ticket_expiration_s(), server_config::ticket_never_expires);
    EXPECT_EQ(c.check_ticket("secret", 1'000'000), ticket_verdict::accepted);

    EXPECT_EQ(c.set_ticket("secret", 30, 1000), 0);
    EXPECT_EQ(c.ticket_expiration_s(), 1030);
    EXPECT_EQ(c.check_ticket("secret", 1030), ticket_verdict::accepted);
    EXPECT_EQ(c.check_ticket("secret", 1031), ticket_verdict::expired);
    EXPECT_EQ(c.check_ticket("Secret", 1000), ticket_verdict::wrong_password);
    EXPECT_EQ(c.check_ticket("secre", 1000), ticket_verdict::wrong_password);
}

TEST(ServerConfig, TicketPasswordUpTo60BytesIsAccepted) {
    server_config c;
    std::string sixty(60, 'a');
    EXPECT_EQ(c.set_ticket(sixty.c_str(), 0, 0), 0);
    // The reference truncates this one to 59 bytes, so it can never match;
    // ringspice keeps all 60.
    EXPECT_EQ(c.ticket_password(), sixty);
    EXPECT_EQ(c.check_ticket(sixty, 0), ticket_verdict::accepted);
}

TEST(ServerConfig, TicketTooLongFailsButStillEnablesTicketing) {
    server_config c;
    ASSERT_EQ(c.set_ticket("old", 0, 0), 0);
    c.set_noauth();
    std::string sixty_one(61, 'a');
    EXPECT_EQ(c.set_ticket(sixty_one.c_str(), 10, 100), -1);
    EXPECT_TRUE(c.ticketing_enabled());
    EXPECT_EQ(c.ticket_expiration_s(), 110);
    EXPECT_TRUE(c.ticket_password().empty()); // noauth cleared it; not replaced
    EXPECT_EQ(c.check_ticket(sixty_one, 100), ticket_verdict::no_password_set);
}

TEST(ServerConfig, NullTicketClearsThePasswordAndExpiresIt) {
    server_config c;
    ASSERT_EQ(c.set_ticket("secret", 0, 0), 0);
    EXPECT_EQ(c.set_ticket(nullptr, 0, 50), 0);
    EXPECT_TRUE(c.ticketing_enabled());
    EXPECT_TRUE(c.ticket_password().empty());
    EXPECT_EQ(c.ticket_expiration_s(), 0);
    EXPECT_EQ(c.check_ticket("", 50), ticket_verdict::no_password_set);
}

TEST(ServerConfig, NoauthDisablesTicketingAndClearsThePassword) {
    server_config c;
    ASSERT_EQ(c.set_ticket("secret", 0, 0), 0);
    EXPECT_EQ(c.set_noauth(), 0);
    EXPECT_FALSE(c.ticketing_enabled());
    EXPECT_TRUE(c.ticket_password().empty());
    EXPECT_EQ(c.check_ticket("anything", 0), ticket_verdict::accepted);
}

TEST(ServerConfig, SaslSettersAlwaysSucceedAndNullAppnameMeansSpice) {
    server_config c;
    EXPECT_EQ(c.set_sasl(1), 0);
    EXPECT_TRUE(c.sasl_enabled());
    EXPECT_EQ(c.set_sasl_appname("qemu"), 0);
    EXPECT_EQ(c.sasl_appname(), "qemu");
    EXPECT_EQ(c.set_sasl_appname(nullptr), 0);
    EXPECT_EQ(c.sasl_appname(), "spice");
    EXPECT_EQ(c.set_sasl(0), 0);
    EXPECT_FALSE(c.sasl_enabled());
}

TEST(ServerConfig, TlsNeedsAPortIn1To65535AndTheThreeFiles) {
    server_config c;
    EXPECT_EQ(c.set_tls(0, "ca", "cert", "key", nullptr, nullptr, nullptr), -1);
    EXPECT_EQ(c.set_tls(-1, "ca", "cert", "key", nullptr, nullptr, nullptr), -1);
    EXPECT_EQ(c.set_tls(65536, "ca", "cert", "key", nullptr, nullptr, nullptr), -1);
    EXPECT_EQ(c.set_tls(5901, nullptr, "cert", "key", nullptr, nullptr, nullptr), -1);
    EXPECT_EQ(c.set_tls(5901, "ca", nullptr, "key", nullptr, nullptr, nullptr), -1);
    EXPECT_EQ(c.set_tls(5901, "ca", "cert", nullptr, nullptr, nullptr, nullptr), -1);
    EXPECT_EQ(c.tls_port(), -1);

    EXPECT_EQ(c.set_tls(5901, "ca.pem", "cert.pem", "key.pem", "pw", "dh.pem", "HIGH"), 0);
    EXPECT_EQ(c.tls_port(), 5901);
    EXPECT_EQ(c.tls().ca_cert_file, "ca.pem");
    EXPECT_EQ(c.tls().cert_file, "cert.pem");
    EXPECT_EQ(c.tls().private_key_file, "key.pem");
    EXPECT_EQ(c.tls().key_password, "pw");
    EXPECT_EQ(c.tls().dh_key_file, "dh.pem");
    EXPECT_EQ(c.tls().ciphersuite, "HIGH");

    // A second call replaces everything; omitted options become empty.
    EXPECT_EQ(c.set_tls(1, "a", "b", "c", nullptr, nullptr, nullptr), 0);
    EXPECT_EQ(c.tls_port(), 1);
    EXPECT_TRUE(c.tls().key_password.empty());
    EXPECT_TRUE(c.tls().dh_key_file.empty());
    EXPECT_TRUE(c.tls().ciphersuite.empty());

    // A refused call changes nothing.
    EXPECT_EQ(c.set_tls(0, "x", "y", "z", "pw", nullptr, nullptr), -1);
    EXPECT_EQ(c.tls().ca_cert_file, "a");
}

TEST(ServerConfig, ChannelSecurityByNameWithNullMeaningTheDefault) {
    server_config c;
    for (const char *name : {"main", "display", "inputs", "cursor", "playback", "record", "tunnel",
                             "smartcard", "usbredir", "port", "webdav"})
        EXPECT_EQ(c.set_channel_security(name, SPICE_CHANNEL_SECURITY_SSL), 0) << name;
    for (const char *name : {"bogus", "", "Main", "main "})
        EXPECT_EQ(c.set_channel_security(name, SPICE_CHANNEL_SECURITY_SSL), -1) << name;

    EXPECT_EQ(c.set_channel_security(nullptr, SPICE_CHANNEL_SECURITY_NONE), 0);
    EXPECT_EQ(c.default_channel_security(), uint32_t(SPICE_CHANNEL_SECURITY_NONE));
    EXPECT_EQ(c.channel_security(SPICE_CHANNEL_DISPLAY), uint32_t(SPICE_CHANNEL_SECURITY_SSL));

    server_config d;
    ASSERT_EQ(d.set_channel_security("main", SPICE_CHANNEL_SECURITY_SSL), 0);
    ASSERT_EQ(d.set_channel_security("main", SPICE_CHANNEL_SECURITY_NONE), 0); // last one wins
    EXPECT_EQ(d.channel_security(SPICE_CHANNEL_MAIN), uint32_t(SPICE_CHANNEL_SECURITY_NONE));
    EXPECT_EQ(d.channel_security(SPICE_CHANNEL_INPUTS), d.default_channel_security());
    EXPECT_EQ(d.channel_security(200), d.default_channel_security());
}

TEST(ServerConfig, ChannelNamesMapToSpiceChannelTypes) {
    EXPECT_EQ(channel_type_from_name("main"), SPICE_CHANNEL_MAIN);
    EXPECT_EQ(channel_type_from_name("cursor"), SPICE_CHANNEL_CURSOR);
    EXPECT_EQ(channel_type_from_name("usbredir"), SPICE_CHANNEL_USBREDIR);
    EXPECT_EQ(channel_type_from_name("webdav"), SPICE_CHANNEL_WEBDAV);
    EXPECT_FALSE(channel_type_from_name(""));
    EXPECT_FALSE(channel_type_from_name("vdagent"));
}

TEST(ServerConfig, ImageCompressionIgnoresInvalidValuesButReturnsZero) {
    server_config c;
    for (auto comp :
         {SPICE_IMAGE_COMPRESSION_OFF, SPICE_IMAGE_COMPRESSION_AUTO_LZ,
          SPICE_IMAGE_COMPRESSION_QUIC, SPICE_IMAGE_COMPRESSION_GLZ, SPICE_IMAGE_COMPRESSION_LZ,
          SPICE_IMAGE_COMPRESSION_LZ4, SPICE_IMAGE_COMPRESSION_AUTO_GLZ}) {
        EXPECT_EQ(c.set_image_compression(comp), 0);
        EXPECT_EQ(c.image_compression(), comp);
    }
    ASSERT_EQ(c.set_image_compression(SPICE_IMAGE_COMPRESSION_QUIC), 0);
    for (int bad : {-1, 0, 8, 9}) {
        EXPECT_EQ(c.set_image_compression(static_cast<SpiceImageCompression>(bad)), 0) << bad;
        EXPECT_EQ(c.image_compression(), SPICE_IMAGE_COMPRESSION_QUIC) << bad;
    }
}

TEST(ServerConfig, WanCompressionRefusesInvalid) {
    server_config c;
    // The reference aborts the process on INVALID (spice_error); -1 is its
    // documented intent.
    EXPECT_EQ(c.set_jpeg_compression(SPICE_WAN_COMPRESSION_INVALID), -1);
    EXPECT_EQ(c.set_zlib_glz_compression(SPICE_WAN_COMPRESSION_INVALID), -1);
    EXPECT_EQ(c.set_jpeg_compression(SPICE_WAN_COMPRESSION_NEVER), 0);
    EXPECT_EQ(c.jpeg_compression(), SPICE_WAN_COMPRESSION_NEVER);
    EXPECT_EQ(c.set_zlib_glz_compression(SPICE_WAN_COMPRESSION_ALWAYS), 0);
    EXPECT_EQ(c.zlib_glz_compression(), SPICE_WAN_COMPRESSION_ALWAYS);
    // Out of range: 0 as in the reference, but the value is not stored.
    EXPECT_EQ(c.set_jpeg_compression(static_cast<spice_wan_compression_t>(7)), 0);
    EXPECT_EQ(c.jpeg_compression(), SPICE_WAN_COMPRESSION_NEVER);
    EXPECT_EQ(c.set_zlib_glz_compression(static_cast<spice_wan_compression_t>(4)), 0);
    EXPECT_EQ(c.zlib_glz_compression(), SPICE_WAN_COMPRESSION_ALWAYS);
}

TEST(ServerConfig, StreamingVideoAcceptsOffAllFilterOnly) {
    server_config c;
    EXPECT_EQ(c.set_streaming_video(SPICE_STREAM_VIDEO_OFF), 0);
    EXPECT_EQ(c.streaming_video(), SPICE_STREAM_VIDEO_OFF);
    EXPECT_EQ(c.set_streaming_video(SPICE_STREAM_VIDEO_ALL), 0);
    EXPECT_EQ(c.set_streaming_video(SPICE_STREAM_VIDEO_FILTER), 0);
    for (int bad : {int(SPICE_STREAM_VIDEO_INVALID), -1, 4, 5})
        EXPECT_EQ(c.set_streaming_video(bad), -1) << bad;
    EXPECT_EQ(c.streaming_video(), SPICE_STREAM_VIDEO_FILTER);
}

TEST(ServerConfig, VideoCodecsParseEncoderColonCodecEntries) {
    server_config c;
    EXPECT_EQ(c.video_codecs_string(), ""); // before init, as the reference
    EXPECT_EQ(c.set_video_codecs("spice:mjpeg"), 0);
    EXPECT_EQ(c.video_codecs_string(), "spice:mjpeg");
    // Any known codec name is accepted with the spice encoder, as in the
    // reference; the display shard skips entries it cannot encode.
    EXPECT_EQ(c.set_video_codecs("spice:vp8;spice:mjpeg"), 0);
    EXPECT_EQ(c.video_codecs_string(), "spice:vp8;spice:mjpeg");
    ASSERT_EQ(c.video_codecs().size(), 2u);
    EXPECT_EQ(c.video_codecs()[0], (video_codec{video_encoder::spice, SPICE_VIDEO_CODEC_TYPE_VP8}));
    EXPECT_EQ(c.set_video_codecs(";;spice:mjpeg;;"), 0);
    EXPECT_EQ(c.video_codecs_string(), "spice:mjpeg");
    EXPECT_EQ(c.set_video_codecs("auto"), 0);
    EXPECT_EQ(c.video_codecs_string(), server_config::default_video_codecs);
}

TEST(ServerConfig, VideoCodecsSkipBadEntriesAndFailWhenNoneRemain) {
    server_config c;
    ASSERT_EQ(c.set_video_codecs("spice:h264"), 0);
    for (const char *bad :
         {"", ";", "bogus", "spice:mjpeg:x", "spice :mjpeg", " spice:mjpeg", "spice:MJPEG",
          "spice:av1", "bogus:mjpeg", "spice:", ":mjpeg", "AUTO"}) {
        EXPECT_EQ(c.set_video_codecs(bad), -1) << '"' << bad << '"';
        EXPECT_EQ(c.video_codecs_string(), "spice:h264") << bad;
    }
    EXPECT_EQ(c.set_video_codecs(nullptr), -1);
    // Bad entries between good ones are dropped.
    EXPECT_EQ(c.set_video_codecs("spice:mjpeg;bogus:x;spice:vp9;spice:"), 0);
    EXPECT_EQ(c.video_codecs_string(), "spice:mjpeg;spice:vp9");
}

TEST(ServerConfig, VideoCodecsGstreamerIsKnownButNotAvailable) {
    // As a reference built without GStreamer: the entry is skipped.
    server_config c;
    EXPECT_EQ(c.set_video_codecs("gstreamer:h264"), -1);
    EXPECT_EQ(c.set_video_codecs("gstreamer:h264;spice:mjpeg"), 0);
    EXPECT_EQ(c.video_codecs_string(), "spice:mjpeg");
}

TEST(ServerConfig, RenderersAcceptSwTwice) {
    server_config c;
    EXPECT_EQ(c.add_renderer("gl"), -1);
    EXPECT_EQ(c.add_renderer(nullptr), -1);
    EXPECT_EQ(c.add_renderer("sw"), 0);
    EXPECT_EQ(c.add_renderer("sw"), 0);
    EXPECT_EQ(c.add_renderer("sw"), -1);
    EXPECT_EQ(c.renderer_count(), 2u);
}

TEST(ServerConfig, InitDefaultsFillOnlyWhatIsUnset) {
    server_config c;
    c.apply_init_defaults();
    EXPECT_EQ(c.renderer_count(), 1u);
    EXPECT_EQ(c.video_codecs_string(), "spice:mjpeg");

    server_config d;
    ASSERT_EQ(d.set_video_codecs("spice:vp8"), 0);
    d.apply_init_defaults();
    EXPECT_EQ(d.video_codecs_string(), "spice:vp8");
}

TEST(ServerConfig, BooleanSettersAlwaysSucceed) {
    server_config c;
    EXPECT_EQ(c.set_playback_compression(0), 0);
    EXPECT_FALSE(c.playback_compression());
    EXPECT_EQ(c.set_agent_mouse(0), 0);
    EXPECT_FALSE(c.agent_mouse());
    EXPECT_EQ(c.set_agent_copypaste(0), 0);
    EXPECT_FALSE(c.agent_copypaste());
    EXPECT_EQ(c.set_agent_file_xfer(0), 0);
    EXPECT_FALSE(c.agent_file_xfer());
    EXPECT_EQ(c.set_agent_file_xfer(42), 0);
    EXPECT_TRUE(c.agent_file_xfer());
}

TEST(ServerConfig, NameAndUuid) {
    server_config c;
    c.set_name("vm1");
    EXPECT_EQ(c.name(), "vm1");
    c.set_name(nullptr);
    EXPECT_FALSE(c.name());
    const uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    c.set_uuid(uuid);
    ASSERT_TRUE(c.uuid());
    EXPECT_EQ((*c.uuid())[0], 1);
    EXPECT_EQ((*c.uuid())[15], 16);
}

TEST(ServerConfig, SeamlessMigrationIsOffWithMultipleClients) {
    server_config c;
    c.set_seamless_migration(1);
    EXPECT_TRUE(c.seamless_migration());
    c.set_allow_multiple_clients(true);
    EXPECT_FALSE(c.seamless_migration());
}

TEST(ServerConfig, MigrationTargetNeedsAHostAndAPort) {
    server_config c;
    EXPECT_EQ(c.set_migration_target("dst", 5900, -1, nullptr), 0);
    ASSERT_TRUE(c.migration());
    EXPECT_EQ(c.migration()->host, "dst");
    EXPECT_EQ(c.migration()->port, 5900);
    EXPECT_FALSE(c.migration()->cert_subject);
    EXPECT_EQ(c.set_migration_target("dst", -1, 5901, "C=XX"), 0);
    EXPECT_EQ(c.migration()->cert_subject, "C=XX");
    // A refused call still clears the previous target.
    EXPECT_EQ(c.set_migration_target("dst", -1, -1, nullptr), -1);
    EXPECT_FALSE(c.migration());
    ASSERT_EQ(c.set_migration_target("dst", 1, 2, nullptr), 0);
    EXPECT_EQ(c.set_migration_target(nullptr, 1, 2, nullptr), -1);
    EXPECT_FALSE(c.migration());
}

TEST(ServerConfig, AudioRates) {
    server_config c;
    c.set_playback_rate(44100);
    c.set_record_rate(16000);
    EXPECT_EQ(c.playback_rate(), 44100u);
    EXPECT_EQ(c.record_rate(), 16000u);
    EXPECT_EQ(server_config::best_audio_rate, 48000u);
    for (uint32_t hz : {48000u, 24000u, 16000u, 12000u, 8000u})
        EXPECT_TRUE(server_config::opus_supports_rate(hz)) << hz;
    for (uint32_t hz : {44100u, 22050u, 0u, 96000u})
        EXPECT_FALSE(server_config::opus_supports_rate(hz)) << hz;
}

} // namespace
} // namespace rs
