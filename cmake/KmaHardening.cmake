# Warnings and hardening shared by every target of the project.

add_compile_options(-Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes
	-Wformat=2 -Wno-format-nonliteral -Wvla -fno-common)
if(KMA_WERROR)
	add_compile_options(-Werror)
endif()

add_compile_options(-fstack-protector-strong)
# 32-bit targets (armhf): large-file calls, or readdir fails with EOVERFLOW under qemu.
# time_t stays as the distribution built its libraries (libevent takes struct timeval).
add_compile_definitions(_FILE_OFFSET_BITS=64)
if(NOT KMA_SANITIZE)
	# _FORTIFY_SOURCE needs optimisation and clashes with ASan's interceptors.
	add_compile_options($<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=2>)
endif()
include(CheckPIESupported)
check_pie_supported()
add_link_options(-Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -Wl,--as-needed)

if(KMA_SANITIZE)
	add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
		-fno-omit-frame-pointer)
	add_link_options(-fsanitize=address,undefined)
endif()

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
	set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()
