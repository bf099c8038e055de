#include "reds/tls.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

#include "runtime/io.hpp"
#include "runtime/log.hpp"

namespace rs {

namespace {

/// Drains OpenSSL's per-thread error queue into one line, so that a failure
/// is logged once with every reason and the queue does not leak into the next
/// connection's SSL_get_error.
std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? std::string("no OpenSSL reason") : out;
}

/// Hands OpenSSL the key password. The context's copy lives only while the
/// key is being loaded (see create()).
int password_cb(char *buf, int size, int /*rwflag*/, void *userdata) {
    const auto *pass = static_cast<const std::string *>(userdata);
    if (pass == nullptr || size <= 0 || pass->size() >= static_cast<size_t>(size)) return 0;
    std::memcpy(buf, pass->data(), pass->size());
    return static_cast<int>(pass->size());
}

struct ctx_free {
    void operator()(SSL_CTX *c) const noexcept { SSL_CTX_free(c); }
};

result<void> fail(std::string_view what, const std::string &file) {
    RS_LOG_ERROR("tls", "{} {}: {}", what, file, openssl_errors());
    return std::make_error_code(std::errc::invalid_argument);
}

result<void> load_dh(SSL_CTX *ctx, const std::string &file) {
    BIO *bio = BIO_new_file(file.c_str(), "r");
    if (bio == nullptr) return fail("cannot open DH parameter file", file);
    EVP_PKEY *params = PEM_read_bio_Parameters(bio, nullptr);
    BIO_free(bio);
    if (params == nullptr) return fail("cannot read DH parameters from", file);
    // set0 takes ownership only on success.
    if (SSL_CTX_set0_tmp_dh_pkey(ctx, params) != 1) {
        EVP_PKEY_free(params);
        return fail("cannot use the DH parameters of", file);
    }
    return {};
}

} // namespace

// ---- tls_context -------------------------------------------------------------

result<std::shared_ptr<tls_context>> tls_context::create(const tls_options &opts) {
    ERR_clear_error();
    std::unique_ptr<SSL_CTX, ctx_free> ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
        RS_LOG_ERROR("tls", "cannot allocate an SSL context: {}", openssl_errors());
        return std::make_error_code(std::errc::not_enough_memory);
    }
    SSL_CTX *c = ctx.get();

    // The reference refuses SSLv2/3 and TLS 1.0; TLS 1.1 is deprecated too
    // (RFC 8996), and every SPICE client speaks TLS 1.2.
    if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1) {
        RS_LOG_ERROR("tls", "cannot require TLS 1.2: {}", openssl_errors());
        return std::make_error_code(std::errc::invalid_argument);
    }
    // Renegotiation is a DoS lever and SPICE never needs it; compression
    // leaks plaintext (CRIME).
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);

    if (SSL_CTX_use_certificate_chain_file(c, opts.cert_file.c_str()) != 1)
        return fail("cannot load the certificate chain", opts.cert_file).error();

    // The password is needed only while the key file is read: point the
    // callback at the caller's string and unhook it right after, so the
    // context keeps no copy of the secret.
    SSL_CTX_set_default_passwd_cb(c, password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(c, const_cast<std::string *>(&opts.key_password));
    const int key_ok =
        SSL_CTX_use_PrivateKey_file(c, opts.private_key_file.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb(c, nullptr);
    SSL_CTX_set_default_passwd_cb_userdata(c, nullptr);
    if (key_ok != 1)
        return fail("cannot load the private key (wrong password or key not matching the "
                    "certificate?)",
                    opts.private_key_file)
            .error();

    if (SSL_CTX_load_verify_locations(c, opts.ca_cert_file.c_str(), nullptr) != 1)
        return fail("cannot load the CA certificates", opts.ca_cert_file).error();

    if (!opts.dh_key_file.empty()) {
        if (auto r = load_dh(c, opts.dh_key_file); !r) return r.error();
    } else {
        // Without a file OpenSSL picks DH parameters matching the key size,
        // so a DHE-only cipher list still works.
        SSL_CTX_set_dh_auto(c, 1);
    }

    static constexpr unsigned char session_id_context[] = {'S', 'P', 'I', 'C', 'E'};
    SSL_CTX_set_session_id_context(c, session_id_context, sizeof(session_id_context));

    if (!opts.ciphersuite.empty() && SSL_CTX_set_cipher_list(c, opts.ciphersuite.c_str()) != 1) {
        RS_LOG_ERROR("tls", "invalid TLS cipher list '{}': {}", opts.ciphersuite, openssl_errors());
        return std::make_error_code(std::errc::invalid_argument);
    }

    RS_LOG_DEBUG("tls", "TLS context ready (certificate {}, CA {})", opts.cert_file,
                 opts.ca_cert_file);
    return std::shared_ptr<tls_context>(new tls_context(ctx.release()));
}

tls_context::~tls_context() { SSL_CTX_free(_ctx); }

// ---- tls_session -------------------------------------------------------------

std::unique_ptr<tls_session> tls_session::create(const tls_context &ctx) {
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx.native());
    BIO *in = BIO_new(BIO_s_mem());
    BIO *out = BIO_new(BIO_s_mem());
    if (ssl == nullptr || in == nullptr || out == nullptr) {
        RS_LOG_ERROR("tls", "cannot allocate a TLS session: {}", openssl_errors());
        SSL_free(ssl);
        BIO_free(in);
        BIO_free(out);
        return nullptr;
    }
    // An empty input BIO means "no data yet" (retry), never end of file:
    // the end of the socket is the stream's business.
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(ssl, in, out); // the SSL owns both BIOs from here
    SSL_set_accept_state(ssl);
    return std::unique_ptr<tls_session>(new tls_session(ssl, in, out));
}

tls_session::~tls_session() { SSL_free(_ssl); }

void tls_session::feed(std::span<const std::byte> ciphertext) {
    while (!ciphertext.empty()) {
        const int chunk = static_cast<int>(std::min<size_t>(ciphertext.size(), 1 << 30));
        const int n = BIO_write(_in, ciphertext.data(), chunk);
        if (n <= 0) return; // only on allocation failure; the next step fails
        ciphertext = ciphertext.subspan(static_cast<size_t>(n));
    }
}

tls_session::status tls_session::classify(int ret) {
    switch (SSL_get_error(_ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        // A memory BIO never makes a write wait, so this is the only retry.
        return status::want_read;
    case SSL_ERROR_ZERO_RETURN:
        return status::closed;
    default:
        _last_error = openssl_errors();
        return status::failed;
    }
}

tls_session::status tls_session::handshake() {
    ERR_clear_error();
    const int r = SSL_do_handshake(_ssl);
    if (r == 1) return status::ok;
    return classify(r);
}

bool tls_session::handshake_done() const noexcept { return SSL_is_init_finished(_ssl) == 1; }

tls_session::step tls_session::read(std::span<std::byte> buf) {
    ERR_clear_error();
    size_t got = 0;
    const int r = SSL_read_ex(_ssl, buf.data(), buf.size(), &got);
    if (r == 1) return {status::ok, got};
    return {classify(r), 0};
}

tls_session::step tls_session::write(std::span<const std::byte> buf) {
    if (buf.empty()) return {status::ok, 0};
    ERR_clear_error();
    size_t done = 0;
    const int r = SSL_write_ex(_ssl, buf.data(), std::min(buf.size(), max_write_chunk), &done);
    if (r == 1) return {status::ok, done};
    return {classify(r), 0};
}

size_t tls_session::output_pending() const noexcept { return BIO_ctrl_pending(_out); }

size_t tls_session::take_output(std::span<std::byte> out) {
    const size_t want = std::min(out.size(), output_pending());
    if (want == 0) return 0;
    const int n = BIO_read(_out, out.data(), static_cast<int>(want));
    return n > 0 ? static_cast<size_t>(n) : 0;
}

int tls_session::cipher_bits() const noexcept {
    return handshake_done() ? SSL_get_cipher_bits(_ssl, nullptr) : 0;
}

std::string tls_session::description() const {
    const char *cipher = SSL_get_cipher_name(_ssl);
    return fmt::format("{} {}", SSL_get_version(_ssl), cipher != nullptr ? cipher : "(none)");
}

// ---- tls_stream --------------------------------------------------------------

tls_stream::tls_stream(fd_handle fd, std::shared_ptr<tls_context> ctx,
                       std::unique_ptr<tls_session> session) noexcept
    : stream(std::move(fd))
    , _ctx(std::move(ctx))
    , _session(std::move(session)) {}

task<result<void>> tls_stream::fill(std::stop_token st) {
    if (_in_buf.size() != recv_chunk) _in_buf.resize(recv_chunk);
    auto n = co_await recv(_fd.get(), _in_buf, std::move(st));
    if (!n) co_return n.error();
    _session->feed(std::span(_in_buf).first(*n));
    co_return result<void>{};
}

static_assert(tls_stream::send_batch + tls_stream::recv_chunk < send_op::zero_copy_threshold);

task<result<void>> tls_stream::flush(std::stop_token st) {
    if (_write_error) co_return _write_error;
    // Loop until empty: a reader may add output (a key update answer) while
    // we are suspended in send_all, and it leaves that to us.
    while (_session->output_pending() > 0) {
        _out_buf.resize(std::min(_session->output_pending(), send_batch + recv_chunk));
        _out_buf.resize(_session->take_output(_out_buf));
        auto r = co_await send_all(_fd.get(), _out_buf, st);
        if (!r) {
            _write_error = r.error();
            co_return r.error();
        }
    }
    co_return result<void>{};
}

task<result<std::unique_ptr<tls_stream>>>
tls_stream::accept(fd_handle fd, std::shared_ptr<tls_context> ctx,
                   std::span<const std::byte> already_read, std::stop_token st) {
    auto session = tls_session::create(*ctx);
    if (!session) co_return std::make_error_code(std::errc::not_enough_memory);
    std::unique_ptr<tls_stream> s(new tls_stream(std::move(fd), ctx, std::move(session)));
    s->_session->feed(already_read);
    for (;;) {
        const auto status = s->_session->handshake();
        // Send what the handshake produced before waiting for the peer: our
        // flight on success or want_read, the alert on failure.
        (void)s->_write_lock.try_lock(); // nobody else knows this stream yet
        auto sent = co_await s->flush(st);
        s->_write_lock.unlock();
        if (status == tls_session::status::ok) break;
        if (status != tls_session::status::want_read) {
            RS_LOG_RATELIMITED("tls", "TLS handshake with fd {} failed: {}", s->fd(),
                               status == tls_session::status::closed
                                   ? std::string("peer closed the session")
                                   : s->_session->last_error());
            co_return errc::protocol;
        }
        if (!sent) {
            RS_LOG_DEBUG("tls", "TLS handshake with fd {}: send failed: {}", s->fd(),
                         sent.error().message());
            co_return sent.error();
        }
        if (auto r = co_await s->fill(st); !r) {
            RS_LOG_DEBUG("tls", "TLS handshake with fd {} ended: {}", s->fd(), r.error().message());
            co_return r.error();
        }
    }
    s->_ssf = s->_session->cipher_bits();
    RS_LOG_DEBUG("tls", "TLS handshake with fd {} done: {}, {} bits", s->fd(),
                 s->_session->description(), s->_ssf);
    co_return std::move(s);
}

task<result<size_t>> tls_stream::read_some(std::span<std::byte> buf, std::stop_token st) {
    if (buf.empty()) co_return size_t{0};
    for (;;) {
        const auto step = _session->read(buf);
        switch (step.st) {
        case tls_session::status::ok:
            co_return step.bytes;
        case tls_session::status::closed:
            co_return errc::eof;
        case tls_session::status::failed:
            RS_LOG_RATELIMITED("tls", "TLS read on fd {} failed: {}", fd(), _session->last_error());
            co_return errc::protocol;
        case tls_session::status::want_read:
            break;
        }
        // Post-handshake messages (a KeyUpdate answer) must leave before we
        // wait for the peer, which may be waiting for them. If a writer is
        // sending, it drains them instead.
        if (_session->output_pending() > 0 && _write_lock.try_lock()) {
            auto r = co_await flush(st);
            _write_lock.unlock();
            if (!r) co_return r.error();
        }
        // A socket EOF without close_notify counts as the end too: clients
        // close abruptly and there is nothing left to protect.
        if (auto r = co_await fill(st); !r) co_return r.error();
    }
}

task<result<void>> tls_stream::write_all(std::span<const std::byte> buf, std::stop_token st) {
    co_await _write_lock.lock();
    result<void> out;
    while (!buf.empty() && out) {
        // Encrypt a batch, then send it: the output BIO holds at most one
        // batch plus a record, whatever the caller's buffer size.
        while (!buf.empty() && _session->output_pending() < send_batch) {
            const auto step = _session->write(buf);
            if (step.st != tls_session::status::ok) {
                RS_LOG_RATELIMITED("tls", "TLS write on fd {} failed: {}", fd(),
                                   _session->last_error());
                out = errc::protocol;
                break;
            }
            buf = buf.subspan(step.bytes);
        }
        if (out) out = co_await flush(st);
    }
    if (out && buf.empty() && _session->output_pending() > 0) out = co_await flush(st);
    _write_lock.unlock();
    co_return out;
}

} // namespace rs
