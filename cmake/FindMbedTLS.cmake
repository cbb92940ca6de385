# Find Mbed TLS. Debian 12 ships 2.28 without pkg-config or CMake package files; Yocto's
# 3.6 ships a CMake package. Prefer the package config when it exists, else search headers
# and libraries (honours CMAKE_SYSROOT / CMAKE_FIND_ROOT_PATH when cross-compiling).
#
# Defines MbedTLS_FOUND, MbedTLS_VERSION and the imported targets MbedTLS::mbedcrypto,
# MbedTLS::mbedx509 and MbedTLS::mbedtls.

# (A package's targets are its shared libraries when it has both: KMA_STATIC_MBEDTLS
# searches the archives below instead.)
if(NOT KMA_STATIC_MBEDTLS)
	find_package(MbedTLS CONFIG QUIET NO_MODULE)
endif()
if(TARGET MbedTLS::mbedtls)
	set(MbedTLS_FOUND TRUE)
	return()
endif()

find_path(MbedTLS_INCLUDE_DIR NAMES mbedtls/ssl.h)
# KMA_STATIC_MBEDTLS: link the static archives (one self-contained binary for an image
# that does not ship the shared libraries; sizes in bench/agent_footprint.sh).
if(KMA_STATIC_MBEDTLS)
	set(_kma_mbed_prefix lib)
	set(_kma_mbed_suffix .a)
endif()
find_library(MbedTLS_CRYPTO_LIBRARY NAMES ${_kma_mbed_prefix}mbedcrypto${_kma_mbed_suffix})
find_library(MbedTLS_X509_LIBRARY NAMES ${_kma_mbed_prefix}mbedx509${_kma_mbed_suffix})
find_library(MbedTLS_TLS_LIBRARY NAMES ${_kma_mbed_prefix}mbedtls${_kma_mbed_suffix})

if(MbedTLS_INCLUDE_DIR)
	foreach(_hdr build_info.h version.h)
		if(EXISTS "${MbedTLS_INCLUDE_DIR}/mbedtls/${_hdr}")
			file(STRINGS "${MbedTLS_INCLUDE_DIR}/mbedtls/${_hdr}" _line
				REGEX "^#define[ \t]+MBEDTLS_VERSION_STRING[ \t]+\"[0-9.]+\"")
			if(_line)
				string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" MbedTLS_VERSION "${_line}")
				break()
			endif()
		endif()
	endforeach()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MbedTLS
	REQUIRED_VARS MbedTLS_INCLUDE_DIR MbedTLS_CRYPTO_LIBRARY MbedTLS_X509_LIBRARY
		MbedTLS_TLS_LIBRARY
	VERSION_VAR MbedTLS_VERSION)

if(MbedTLS_FOUND AND NOT TARGET MbedTLS::mbedtls)
	add_library(MbedTLS::mbedcrypto UNKNOWN IMPORTED)
	set_target_properties(MbedTLS::mbedcrypto PROPERTIES
		IMPORTED_LOCATION "${MbedTLS_CRYPTO_LIBRARY}"
		INTERFACE_INCLUDE_DIRECTORIES "${MbedTLS_INCLUDE_DIR}")
	add_library(MbedTLS::mbedx509 UNKNOWN IMPORTED)
	set_target_properties(MbedTLS::mbedx509 PROPERTIES
		IMPORTED_LOCATION "${MbedTLS_X509_LIBRARY}"
		INTERFACE_LINK_LIBRARIES MbedTLS::mbedcrypto)
	add_library(MbedTLS::mbedtls UNKNOWN IMPORTED)
	set_target_properties(MbedTLS::mbedtls PROPERTIES
		IMPORTED_LOCATION "${MbedTLS_TLS_LIBRARY}"
		INTERFACE_LINK_LIBRARIES MbedTLS::mbedx509)
endif()
mark_as_advanced(MbedTLS_INCLUDE_DIR MbedTLS_CRYPTO_LIBRARY MbedTLS_X509_LIBRARY
	MbedTLS_TLS_LIBRARY)
