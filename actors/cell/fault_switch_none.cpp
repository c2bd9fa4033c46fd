// hermes-matrix (the shipped binary): no fault switch. main() calls this in both
// binaries, so that main.cpp compiles once; hermes-matrix-faulty links
// fault_switch_hook.cpp's version instead, which installs the test hook.

namespace hm {

void install_test_fault_switch() {}

} // namespace hm
