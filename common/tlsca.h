/* tlsca.h -- the lab certificate authority: keys, certificates, contexts.
 *
 * Everything is PEM text in memory so the caller can keep it in the
 * database and hand it to OpenSSL (the lws-run lab servers, the relay) and
 * to GnuTLS (the HTTPS lab through libmicrohttpd) alike. Keys are ECDSA
 * P-256: quick to make on first start, accepted by every client we test.
 */
#ifndef PORTLAB_TLSCA_H
#define PORTLAB_TLSCA_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <time.h>

/* A new self-signed CA named cn, valid LIM_TLS_CA_DAYS. *cert_pem and
 * *key_pem are malloc'd (caller frees). 0 or -1 (err says why). */
int tlsca_make_ca(const char *cn, char **cert_pem, char **key_pem, char *err, size_t errcap);

/* A server certificate for cn signed by the CA, with the subject
 * alternative names in sans ("lab", "127.0.0.1", "::1": IP literals become
 * IP SANs, anything else DNS), at most LIM_TLS_SANS, valid days days.
 * Outputs as tlsca_make_ca. */
int tlsca_make_leaf(const char *ca_cert_pem, const char *ca_key_pem, const char *cn,
                    const char *const *sans, int nsans, int days, char **cert_pem, char **key_pem,
                    char *err, size_t errcap);

/* 1 if cert_pem was signed by ca_cert_pem, holds exactly the names in sans
 * (any order) and stays valid for at least min_secs more; else 0. Used to
 * decide whether the stored lab certificate must be renewed. */
int tlsca_leaf_fits(const char *cert_pem, const char *ca_cert_pem, const char *const *sans,
                    int nsans, long min_secs);

/* The certificate's notAfter as a time_t, or 0 if it cannot be read. */
time_t tlsca_not_after(const char *cert_pem);

/* A server context (TLS 1.2 and 1.3) presenting cert_pem (then chain_pem,
 * may be NULL) with key_pem. NULL on error (err says why). Caller frees
 * with SSL_CTX_free(). */
SSL_CTX *tlsca_server_ctx(const char *cert_pem, const char *key_pem, const char *chain_pem,
                          char *err, size_t errcap);

/* A client context that verifies the peer against ca_pem (NULL: the
 * system's CAs) when verify is 1; verify 0 still records the result (shown
 * in the summary) but lets the handshake go on. NULL on error. */
SSL_CTX *tlsca_client_ctx(const char *ca_pem, int verify, char *err, size_t errcap);

#endif
