/* fuzz_ssh.c -- libFuzzer target for the lab SSH banner server (see fuzz_lab.h).
 *
 * The input is the client's byte stream: an identification line, then
 * binary packets whose lengths and padding are the fuzzer's to choose.
 */
#include "fuzz_lab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lab_init(NULL);
  return fuzz_lab_stream(&lab_ssh, data, size);
}
