#pragma once

// The collector's own certificate authority (`isdas keys`): creates the CA, issues sensor
// client certificates and the collector's server certificate, revokes sensors through a CRL.
// Keys are ECDSA P-256; files are PEM. Layout of the directory: docs/keys.md.
// A sensor certificate's subject CN is the sensor id, and the same id is in a SAN URI
// "urn:isdas:sensor:<id>"; the collector reads it back with SensorIdOf().
// Not thread-safe (one `isdas keys` at a time per directory).

#include <openssl/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace isdas::pki {

struct Issued {
  std::string cert_path;
  std::string key_path;
  std::string serial_hex;
};

// Creates ca.key (mode 0600), ca.crt, an empty crl.pem and index.tsv in `dir`.
// Errors: kInvalidArgument if a CA already exists there (it is never overwritten), kIo.
Status CreateCa(const std::string& dir, const std::string& name, uint32_t days);
// Issues <dir>/sensors/<id>.crt and .key for a sensor (clientAuth).
// Errors: kInvalidArgument (bad id, or an unrevoked certificate for it exists), kNotFound (no CA).
Result<Issued> IssueSensor(const std::string& dir, const std::string& sensor_id, uint32_t days);
// Issues <dir>/server.crt and server.key for the collector (serverAuth) with the given DNS
// names and IP addresses as subjectAltNames. Errors: kInvalidArgument (a name that is neither
// an address nor a DNS name; a server certificate or key already there and not `replace` —
// with `replace` the old pair is kept as server.crt.old and server.key.old).
Result<Issued> IssueServer(const std::string& dir, const std::vector<std::string>& names,
                           uint32_t days, bool replace = false);
// Revokes every certificate issued to the sensor and rewrites crl.pem.
// Errors: kNotFound (no such sensor).
Status RevokeSensor(const std::string& dir, const std::string& sensor_id);

struct IndexEntry {
  std::string serial_hex;
  std::string kind;  // "sensor" or "server"
  std::string name;
  int64_t not_after = 0;   // seconds since the epoch
  int64_t revoked_at = 0;  // 0 = valid
};
Result<std::vector<IndexEntry>> ReadIndex(const std::string& dir);

// A certificate serial number as upper-case hex (the form index.tsv and the CRL check use).
std::string SerialHex(const ASN1_INTEGER* serial);
// The queued OpenSSL errors of this thread, "; "-joined (and cleared).
std::string OpensslErrors();

// The sensor id a client certificate was issued for ("" if it carries none).
std::string SensorIdOf(X509* cert);

// A certificate and its key, named by the settings they come from ("collector.cert"), checked
// before they are used, each failure a sentence with its likely cause (kInvalidArgument):
// both readable PEM; the key the certificate's own; the key file not readable by group or
// others (refused, as ssh refuses such a key); the certificate valid now; and, when
// `sensor_id` is given, issued to that sensor.
struct Credentials {
  std::string cert_file, cert_setting;
  std::string key_file, key_setting;
  std::string sensor_id;  // "": a server certificate
};
Status CheckCredentials(const Credentials& c);

}  // namespace isdas::pki
