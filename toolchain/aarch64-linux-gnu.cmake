# CMake toolchain file: Linux on 64-bit ARM (GNU triplet aarch64-linux-gnu, Debian arm64).
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=toolchain/aarch64-linux-gnu.cmake \
#         -DKMA_SYSROOT=/path/to/sysroot
#
# KMA_SYSROOT  the target's root filesystem: headers and libraries of glibc and of every
#              library the project links. Taken from -DKMA_SYSROOT, else from the environment
#              variable KMA_SYSROOT, else <build dir>/sysroot, which `make cross ARCH=aarch64`
#              (scripts/cross.sh) fills with Debian 12's arm64 packages (scripts/sysroot.sh).
#              A Yocto SDK's target sysroot or Buildroot's output/staging work too.
# KMA_CROSS_COMPILE  prefix of the cross tools (default aarch64-linux-gnu-: Debian's
#              gcc-aarch64-linux-gnu); a Yocto SDK wants e.g. aarch64-poky-linux-. Or pass
#              -DCMAKE_C_COMPILER=/full/path/to/gcc.
# Tests run under qemu-user: CMAKE_CROSSCOMPILING_EMULATOR defaults to
#   qemu-aarch64 -L <sysroot>   (no binfmt_misc needed; `ctest -L unit` runs them)
#   override it with -DCMAKE_CROSSCOMPILING_EMULATOR="/path/to/qemu;-L;/path".
# pkg-config looks only into the sysroot (PKG_CONFIG_SYSROOT_DIR, PKG_CONFIG_LIBDIR are set
# in the environment of the configure step); protoc-c and other programs come from the host.

set(KMA_TARGET_TRIPLET aarch64-linux-gnu)
set(KMA_QEMU qemu-aarch64)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
