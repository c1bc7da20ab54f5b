/* fuzz_telnetd.c -- libFuzzer target for the lab Telnet server (see fuzz_lab.h).
 *
 * The client's stream carries negotiation and all; the shell only reads
 * alice's seeded files.
 */
#include "fuzz_lab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lab_init(NULL);
  return fuzz_lab_stream(&lab_telnet, data, size);
}
