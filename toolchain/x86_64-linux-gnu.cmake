# CMake toolchain file: Linux on x86-64 (GNU triplet x86_64-linux-gnu, Debian amd64), for
# building x86 appliance images against the appliance's own sysroot from any host.
#
#   cmake -S . -B build-amd64 -DCMAKE_TOOLCHAIN_FILE=toolchain/x86_64-linux-gnu.cmake \
#         -DKMA_SYSROOT=/path/to/sysroot
#
# KMA_SYSROOT  the target's root filesystem: headers and libraries of glibc and of every
#              library the project links. Taken from -DKMA_SYSROOT, else from the environment
#              variable KMA_SYSROOT, else <build dir>/sysroot, which `make cross ARCH=x86_64`
#              (scripts/cross.sh) fills with Debian 12's amd64 packages (scripts/sysroot.sh).
#              A Yocto SDK's target sysroot or Buildroot's output/staging work too.
# KMA_CROSS_COMPILE  prefix of the cross tools (default x86_64-linux-gnu-: on a Debian x86-64
#              host that is the native gcc, elsewhere Debian's gcc-x86-64-linux-gnu; plain gcc
#              if there is no such prefix on an x86-64 host). Or pass -DCMAKE_C_COMPILER=.
# Tests (`ctest -L unit`) run the target programs with the sysroot's libraries:
#   on an x86-64 host: through the sysroot's dynamic loader,
#     <sysroot>/lib64/ld-linux-x86-64.so.2 --library-path <sysroot's lib dirs> PROGRAM
#   on any other host: qemu-x86_64 -L <sysroot>
#   override with -DCMAKE_CROSSCOMPILING_EMULATOR="...;..." (an empty string: run directly).
# pkg-config looks only into the sysroot (PKG_CONFIG_SYSROOT_DIR, PKG_CONFIG_LIBDIR are set
# in the environment of the configure step); protoc-c and other programs come from the host.

set(KMA_TARGET_TRIPLET x86_64-linux-gnu)
if(CMAKE_HOST_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
	set(KMA_QEMU "") # no emulation needed: see the end of this file
else()
	set(KMA_QEMU qemu-x86_64)
endif()
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)

# --- x86-64 only --------------------------------------------------------------------------
# On an x86-64 host the target's programs run natively, but with the sysroot's loader and
# libraries (not the host's): the same libraries the appliance image ships.
if(NOT DEFINED CMAKE_CROSSCOMPILING_EMULATOR AND NOT KMA_QEMU)
	string(JOIN ":" _kma_libpath "${KMA_SYSROOT}/lib/${KMA_TARGET_TRIPLET}"
		"${KMA_SYSROOT}/usr/lib/${KMA_TARGET_TRIPLET}" "${KMA_SYSROOT}/lib64"
		"${KMA_SYSROOT}/usr/lib64" "${KMA_SYSROOT}/lib" "${KMA_SYSROOT}/usr/lib")
	set(CMAKE_CROSSCOMPILING_EMULATOR
		"${KMA_SYSROOT}/lib64/ld-linux-x86-64.so.2;--library-path;${_kma_libpath}")
endif()
