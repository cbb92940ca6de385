# CMake toolchain file: Linux on 32-bit ARM, hard-float ABI (GNU triplet
# arm-linux-gnueabihf, Debian armhf: ARMv7-A with VFPv3-D16, Thumb-2).
#
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=toolchain/arm-linux-gnueabihf.cmake \
#         -DKMA_SYSROOT=/path/to/sysroot
#
# KMA_SYSROOT  the target's root filesystem: headers and libraries of glibc and of every
#              library the project links. Taken from -DKMA_SYSROOT, else from the environment
#              variable KMA_SYSROOT, else <build dir>/sysroot, which `make cross ARCH=armhf`
#              (scripts/cross.sh) fills with Debian 12's armhf packages (scripts/sysroot.sh).
#              A Yocto SDK's target sysroot or Buildroot's output/staging work too.
# KMA_CROSS_COMPILE  prefix of the cross tools (default arm-linux-gnueabihf-: Debian's
#              gcc-arm-linux-gnueabihf); a Yocto SDK wants e.g. arm-poky-linux-gnueabi-. Or pass
#              -DCMAKE_C_COMPILER=/full/path/to/gcc.
# Tests run under qemu-user: CMAKE_CROSSCOMPILING_EMULATOR defaults to
#   qemu-arm -L <sysroot>   (no binfmt_misc needed; `ctest -L unit` runs them)
#   override it with -DCMAKE_CROSSCOMPILING_EMULATOR="/path/to/qemu;-L;/path".
# pkg-config looks only into the sysroot (PKG_CONFIG_SYSROOT_DIR, PKG_CONFIG_LIBDIR are set
# in the environment of the configure step); protoc-c and other programs come from the host.

set(KMA_TARGET_TRIPLET arm-linux-gnueabihf)
set(KMA_QEMU qemu-arm)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)

include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
