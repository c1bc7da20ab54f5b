/* fuzz_dns.c -- libFuzzer target for the lab DNS server over TCP (see fuzz_lab.h).
 *
 * The input is the client's byte stream: two-byte lengths and messages, so
 * the framing, the query parser (names, labels, compression pointers) and
 * the answer builder all see hostile bytes. The connection is not named by
 * a relay session, so flag.lab. answers with directions, as to an own client.
 */
#include "fuzz_lab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lab_init(NULL);
  return fuzz_lab_stream(&lab_dns, data, size);
}
