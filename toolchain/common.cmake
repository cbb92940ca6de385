# Shared by the toolchain files (included after they set KMA_TARGET_TRIPLET, KMA_QEMU,
# CMAKE_SYSTEM_NAME and CMAKE_SYSTEM_PROCESSOR): sysroot, compiler, find modes,
# pkg-config and the emulator that runs target programs for ctest.

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
