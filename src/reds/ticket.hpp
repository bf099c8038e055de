// SPICE ticket authentication: the server sends a fresh RSA-1024 public key
// in its link reply, the client answers with the password encrypted under it
// (RSA-OAEP with SHA-1), and the server compares it with the configured ticket.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <openssl/types.h>
#include <spice/protocol.h>

namespace rs {

/// Owns one RSA key pair and its DER SubjectPublicKeyInfo. Move-only; not
/// shared between links. Generation costs a few milliseconds of CPU, so the
/// caller decides where it runs; decrypt is const and may run on any shard
/// that owns the key.
class ticket_key {
  public:
    static constexpr size_t pub_key_size = SPICE_TICKET_PUBKEY_BYTES;          // 162
    static constexpr size_t encrypted_size = SPICE_TICKET_KEY_PAIR_LENGTH / 8; // 128

    /// A fresh RSA-1024 key with exponent 65537, as the reference generates
    /// per link; nullopt when OpenSSL refuses (FIPS mode, no entropy).
    static std::optional<ticket_key> generate() noexcept;

    ticket_key(ticket_key &&) noexcept = default;
    ticket_key &operator=(ticket_key &&) noexcept = default;
    ~ticket_key();

    /// The SubjectPublicKeyInfo the link reply carries in pub_key.
    std::span<const uint8_t, pub_key_size> public_key_der() const noexcept { return _der; }

    /// Decrypts the client's ticket. The plaintext is the password up to its
    /// first NUL (all of it when there is none). nullopt when the input is not
    /// encrypted_size bytes or does not decrypt.
    std::optional<std::string> decrypt_password(std::span<const uint8_t> encrypted) const noexcept;

  private:
    struct pkey_free {
        void operator()(EVP_PKEY *p) const noexcept;
    };
    ticket_key() = default;

    std::unique_ptr<EVP_PKEY, pkey_free> _pkey;
    std::array<uint8_t, pub_key_size> _der{};
};

/// Compares a password with the configured one in time that depends only on
/// their lengths, so a client cannot find the ticket byte by byte.
bool password_equal(std::string_view given, std::string_view expected) noexcept;

} // namespace rs
