// Stand-in for libFuzzer's main in sanitizer builds made with g++ (no -fsanitize=fuzzer): runs
// LLVMFuzzerTestOneInput once on every file named on the command line, so the seed corpus and
// the saved crash inputs are replayed under ASan+UBSan by every unit-test run.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 2;
    }
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "Running: %s (%zu bytes)\n", argv[i], bytes.size());
    // A copy of exactly the input's size, so ASan sees a read past its end.
    std::vector<uint8_t> data(bytes.begin(), bytes.end());
    static uint8_t none = 0;  // libFuzzer never passes a null pointer, even for empty input
    LLVMFuzzerTestOneInput(data.empty() ? &none : data.data(), data.size());
  }
  std::fprintf(stderr, "replayed %d inputs\n", argc - 1);
  return 0;
}
