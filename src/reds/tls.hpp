// TLS for SPICE's secure port: a server context built once from the
// spice_server_set_tls options, a sans-I/O session (OpenSSL over two memory
// BIOs: ciphertext in, ciphertext out) and a stream that drives the session
// with the runtime's awaitables. OpenSSL never touches the socket, so nothing
// blocks the shard and every wait is a cancellable io_uring operation.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include <openssl/types.h>

#include "reds/server_config.hpp"
#include "reds/stream.hpp"
#include "runtime/result.hpp"
#include "runtime/socket.hpp"
#include "runtime/sync.hpp"
#include "runtime/task.hpp"

namespace rs {

/// The server's SSL_CTX, configured as the reference's reds_init_ssl does:
/// TLS 1.2 or newer, no renegotiation, no compression, the certificate chain,
/// the private key (decrypted with key_password), the CA file, DH parameters
/// when a file is given (else OpenSSL's automatic DH), session id context
/// "SPICE" and the cipher list when given. Client certificates are not
/// requested, as in the reference. Built once per server on the control
/// shard and immutable afterwards, so every connection shares it through a
/// shared_ptr (OpenSSL allows concurrent SSL_new on one SSL_CTX).
class tls_context {
  public:
    /// The context, or an error after one log line naming the file or option
    /// that failed and OpenSSL's reason (std::errc::invalid_argument).
    static result<std::shared_ptr<tls_context>> create(const tls_options &opts);

    ~tls_context();
    tls_context(const tls_context &) = delete;
    tls_context &operator=(const tls_context &) = delete;

    SSL_CTX *native() const noexcept { return _ctx; }

  private:
    explicit tls_context(SSL_CTX *ctx) noexcept
        : _ctx(ctx) {}
    SSL_CTX *_ctx;
};

/// One server-side TLS session without I/O: the caller feeds ciphertext from
/// the peer, steps the handshake, decrypts and encrypts, and takes the
/// ciphertext to send. Owns its SSL and both memory BIOs. Lives on the shard
/// of the stream that drives it (the control shard, or a display shard after
/// hand-over); the fuzz target drives it directly.
///
/// Memory stays bounded by the driver: feed() only after an operation said
/// want_read (at most one record is then buffered) and drain the output
/// after each write() of at most max_write_chunk bytes.
class tls_session {
  public:
    /// Plaintext bytes one write() encrypts at most (one TLS record).
    static constexpr size_t max_write_chunk = 16 * 1024;

    enum class status {
        ok,        ///< done (handshake finished, bytes read or written)
        want_read, ///< feed() more ciphertext from the peer, then call again
        closed,    ///< the peer sent close_notify
        failed,    ///< a TLS error; last_error() says why; the session is dead
    };
    struct step {
        status st = status::ok;
        size_t bytes = 0; ///< plaintext read or written when st is ok
    };

    /// A session in server (accept) state; nullptr when OpenSSL cannot
    /// allocate one (logged).
    static std::unique_ptr<tls_session> create(const tls_context &ctx);
    ~tls_session();
    tls_session(const tls_session &) = delete;
    tls_session &operator=(const tls_session &) = delete;

    /// Appends ciphertext received from the peer.
    void feed(std::span<const std::byte> ciphertext);
    /// Advances the server handshake with what was fed.
    status handshake();
    bool handshake_done() const noexcept;
    /// Decrypts up to buf.size() bytes.
    step read(std::span<std::byte> buf);
    /// Encrypts up to max_write_chunk bytes of buf.
    step write(std::span<const std::byte> buf);

    /// Ciphertext waiting to be sent.
    size_t output_pending() const noexcept;
    /// Moves up to out.size() bytes of pending ciphertext into out.
    size_t take_output(std::span<std::byte> out);

    /// The negotiated cipher's secret key bits (SSL_get_cipher_bits); 0 before
    /// the handshake finishes.
    int cipher_bits() const noexcept;
    /// "TLSv1.3 TLS_AES_256_GCM_SHA384", for the log.
    std::string description() const;
    /// OpenSSL's reasons for the last failed status, for the log.
    const std::string &last_error() const noexcept { return _last_error; }

  private:
    explicit tls_session(SSL *ssl, BIO *in, BIO *out) noexcept
        : _ssl(ssl)
        , _in(in)
        , _out(out) {}
    status classify(int ret);

    SSL *_ssl;
    BIO *_in;  // owned by _ssl: ciphertext from the peer
    BIO *_out; // owned by _ssl: ciphertext for the peer
    std::string _last_error;
};

/// A TLS connection: owns the socket (in the base) and its tls_session, and
/// moves ciphertext between the session and the socket with rs::recv and
/// rs::send_all. Lives on one shard at a time, like every stream.
///
/// One reader and any number of writers may be in flight at once (a channel
/// client's reader and writer coroutines): writers are serialised so records
/// leave in order; a reader that must flush handshake or key-update output
/// does so only when no writer is sending (the writer drains it otherwise).
/// A write that fails or is cancelled midway leaves a partial record on the
/// wire, so every later write fails too; a cancelled read loses nothing.
class tls_stream final : public stream {
  public:
    /// Bytes of ciphertext one recv asks for: one full TLS record.
    static constexpr size_t recv_chunk = 16 * 1024 + 512;
    /// Ciphertext a write_all encrypts before sending it (bounds the BIO).
    /// Sends stay below send_op's zero-copy threshold: the ciphertext is a
    /// scratch buffer, encryption costs far more than the copy, and SEND_ZC
    /// fails on UNIX sockets (EOPNOTSUPP).
    static constexpr size_t send_batch = 32 * 1024;

    /// Runs the server handshake on `fd`. `already_read` holds bytes the
    /// listener consumed before deciding this is TLS (may be empty); they are
    /// processed first. Errors (each logged once): errc::protocol for a
    /// handshake the peer got wrong (garbage, an old TLS version, no common
    /// cipher), errc::eof when the peer closes during the handshake, and
    /// socket errors and errc::cancelled as they come.
    static task<result<std::unique_ptr<tls_stream>>> accept(fd_handle fd,
                                                            std::shared_ptr<tls_context> ctx,
                                                            std::span<const std::byte> already_read,
                                                            std::stop_token st);

    /// Plaintext up to buf.size(); errc::eof after close_notify or when the
    /// socket ends; errc::protocol on a TLS error.
    task<result<size_t>> read_some(std::span<std::byte> buf, std::stop_token st) override;
    task<result<void>> write_all(std::span<const std::byte> buf, std::stop_token st) override;
    bool is_tls() const noexcept override { return true; }
    /// The cipher's key bits, as the reference reports to SASL.
    int ssf() const noexcept override { return _ssf; }

  private:
    tls_stream(fd_handle fd, std::shared_ptr<tls_context> ctx,
               std::unique_ptr<tls_session> session) noexcept;
    /// Reads one chunk of ciphertext from the socket into the session.
    task<result<void>> fill(std::stop_token st);
    /// Sends every pending byte of ciphertext; caller holds the write lock.
    task<result<void>> flush(std::stop_token st);

    std::shared_ptr<tls_context> _ctx; // keeps the SSL_CTX alive for _session
    std::unique_ptr<tls_session> _session;
    std::vector<std::byte> _in_buf;
    std::vector<std::byte> _out_buf;
    std::error_code _write_error; // sticky: the wire holds a partial record
    int _ssf = 0;
    async_mutex _write_lock; // one writer at a time: records must not interleave
};

} // namespace rs
