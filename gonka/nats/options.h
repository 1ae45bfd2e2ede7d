// NatsOptions: how a gonka::nats client (NatsClient, JetStream) connects to NATS.
//
// Contract: the first connect fails fast (Unavailable naming every URL) when no server answers;
// after it succeeds the client reconnects forever, with exponential backoff between full passes
// over `urls` (reconnect_initial doubling up to reconnect_max, with jitter), and calls made while
// disconnected fail with Unavailable or DeadlineExceeded naming the servers.
//
// Credentials and TLS: at most one authentication method (user+password, token, nkey seed or
// .creds file); every secret comes from a file that is read when the connection is opened (and,
// for .creds and nkey seeds, by nats.c on each reconnect), never from a value in memory given by
// the caller. A secret file that group or others may access (mode & 077) is refused with
// InvalidArgument naming the file and its mode, never its content. No secret appears in an error,
// log line or metric: a refused connection reads e.g.
//   nats nats://127.0.0.1:4222: authorization violation (user "producer")
// TLS is used when any URL is tls://, `tls` is set, or a CA/client certificate file is given;
// the server's certificate is always verified (system CAs, or `tls_ca_file`), including its name
// (`tls_server_name`, else the URL's host).
//
// Example:
//   gonka::nats::NatsOptions o;
//   o.urls = {"tls://10.0.0.1:4222", "tls://10.0.0.2:4222"};
//   o.timeout = absl::Seconds(2);
//   o.user = "signer";
//   o.password_file = "/etc/gonka/nats-signer.password";   // mode 0600
//   o.tls_ca_file = "/etc/gonka/nats-ca.crt";
#ifndef GONKA_NATS_OPTIONS_H_
#define GONKA_NATS_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace gonka {
namespace nats {

struct NatsOptions {
  std::vector<std::string> urls = {"nats://127.0.0.1:4222"};
  // Connect timeout and the default wait of every JetStream request (publish ack, stream info).
  absl::Duration timeout = absl::Seconds(1);
  std::string name = "gonka";  // client name shown by the server
  // Subject prefix of this client's reply inboxes ("" = nats.c's "_INBOX"). Give each role its
  // own (e.g. "_INBOX_signer") so the server can refuse other roles' subscriptions to replies,
  // which carry pull-consumer deliveries (deploy/nats/gonka-node.conf).
  std::string inbox_prefix;
  // Delay before the next pass over `urls` after a pass failed: reconnect_initial, doubling per
  // failed pass up to reconnect_max, +-20% jitter. Reconnection never gives up.
  absl::Duration reconnect_initial = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(2);

  // --- Authentication: at most one of password_file, token_file, nkey_seed_file, creds_file
  // (InvalidArgument naming both otherwise). ---
  // User name for password_file. Empty: password_file holds "user:password" (split at the first
  // ':'); set: password_file holds the password alone. One trailing newline is ignored.
  std::string user;
  std::string password_file;
  // A file holding the token (authorization { token: ... } on the server).
  std::string token_file;
  // A file holding a user nkey seed ("SU..."; nk -gen user). The public key is derived from it;
  // nats.c signs the server's nonce with it at every (re)connect.
  std::string nkey_seed_file;
  // A NATS .creds file (user JWT + nkey seed; operator/account mode), read by nats.c at every
  // (re)connect, so a rotated file is picked up on the next reconnect.
  std::string creds_file;

  // --- TLS ---
  bool tls = false;             // require TLS (also implied by tls:// URLs and tls_* files)
  std::string tls_ca_file;      // PEM CA bundle to verify the server; "" = system CAs
  std::string tls_cert_file;    // client certificate chain (PEM), for servers that verify clients
  std::string tls_key_file;     // its private key (PEM; a secret file: mode 0600)
  std::string tls_server_name;  // expected name in the server certificate; "" = the URL's host
};

}  // namespace nats
}  // namespace gonka

#endif  // GONKA_NATS_OPTIONS_H_
