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

# --- the same in the three toolchain files from here on (x86_64 adds a last section) -------

# The sysroot: cache variable, else environment (try_compile re-reads this file in another
# build tree: the environment carries the choice there), else <build dir>/sysroot.
if(NOT KMA_SYSROOT)
	if(DEFINED ENV{KMA_SYSROOT} AND NOT "$ENV{KMA_SYSROOT}" STREQUAL "")
		set(KMA_SYSROOT "$ENV{KMA_SYSROOT}")
	else()
		set(KMA_SYSROOT "${CMAKE_BINARY_DIR}/sysroot")
	endif()
endif()
get_filename_component(KMA_SYSROOT "${KMA_SYSROOT}" ABSOLUTE)
set(KMA_SYSROOT "${KMA_SYSROOT}" CACHE PATH "Target root filesystem (headers and libraries)")
set(ENV{KMA_SYSROOT} "${KMA_SYSROOT}")
if(NOT EXISTS "${KMA_SYSROOT}/usr/include")
	message(FATAL_ERROR "KMA_SYSROOT=${KMA_SYSROOT} is not a sysroot (no usr/include): make "
		"one with scripts/sysroot.sh, or pass -DKMA_SYSROOT=/path/to/the/target/rootfs")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES KMA_SYSROOT KMA_CROSS_COMPILE)

if(NOT DEFINED KMA_CROSS_COMPILE)
	if(DEFINED ENV{KMA_CROSS_COMPILE})
		set(KMA_CROSS_COMPILE "$ENV{KMA_CROSS_COMPILE}")
	else()
		set(KMA_CROSS_COMPILE "${KMA_TARGET_TRIPLET}-")
	endif()
endif()
set(ENV{KMA_CROSS_COMPILE} "${KMA_CROSS_COMPILE}")
if(NOT CMAKE_C_COMPILER)
	find_program(KMA_CROSS_CC NAMES ${KMA_CROSS_COMPILE}gcc NO_CMAKE_FIND_ROOT_PATH)
	if(NOT KMA_CROSS_CC AND KMA_TARGET_TRIPLET STREQUAL "x86_64-linux-gnu"
			AND CMAKE_HOST_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
		find_program(KMA_CROSS_CC NAMES gcc cc NO_CMAKE_FIND_ROOT_PATH)
	endif()
	if(NOT KMA_CROSS_CC)
		message(FATAL_ERROR "${KMA_CROSS_COMPILE}gcc not found: install the cross compiler "
			"(Debian: scripts/deps.sh cross) or pass -DCMAKE_C_COMPILER=")
	endif()
	set(CMAKE_C_COMPILER "${KMA_CROSS_CC}")
endif()

set(CMAKE_SYSROOT "${KMA_SYSROOT}")
set(CMAKE_LIBRARY_ARCHITECTURE ${KMA_TARGET_TRIPLET})
# Headers, libraries and CMake packages come from the sysroot only; programs from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config (the host's) reads the target's .pc files and prefixes their paths.
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${KMA_SYSROOT}")
string(JOIN ":" _kma_pc "${KMA_SYSROOT}/usr/lib/${KMA_TARGET_TRIPLET}/pkgconfig"
	"${KMA_SYSROOT}/usr/lib/pkgconfig" "${KMA_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_LIBDIR} "${_kma_pc}")
set(ENV{PKG_CONFIG_PATH} "")

# Running target programs (ctest): qemu-user with the sysroot as the ELF interpreter's root.
# Debian's dynamic loader searches the multiarch folders (lib/TRIPLET, usr/lib/TRIPLET) by
# itself; other layouts (Yocto, Buildroot: lib, usr/lib) are searched by default too.
if(NOT DEFINED CMAKE_CROSSCOMPILING_EMULATOR)
	if(KMA_QEMU)
		find_program(KMA_QEMU_EXECUTABLE NAMES ${KMA_QEMU} NO_CMAKE_FIND_ROOT_PATH)
		if(NOT KMA_QEMU_EXECUTABLE)
			set(KMA_QEMU_EXECUTABLE ${KMA_QEMU})
		endif()
		set(CMAKE_CROSSCOMPILING_EMULATOR "${KMA_QEMU_EXECUTABLE};-L;${KMA_SYSROOT}")
	endif()
endif()
