# protoc-c runs on the build host, also when cross-compiling: search the host's PATH only.
# kma_protoc_c(OUT_SRCS OUT_HDRS file.proto...) generates .pb-c.c/.pb-c.h in the binary dir.

find_program(PROTOC_C_EXECUTABLE NAMES protoc-c protoc-gen-c NO_CMAKE_FIND_ROOT_PATH)
if(NOT PROTOC_C_EXECUTABLE)
	message(FATAL_ERROR "protoc-c not found on the build host (Debian: protobuf-c-compiler)")
endif()

function(kma_protoc_c out_srcs out_hdrs)
	set(srcs)
	set(hdrs)
	foreach(proto ${ARGN})
		get_filename_component(abs ${proto} ABSOLUTE)
		get_filename_component(dir ${abs} DIRECTORY)
		get_filename_component(name ${proto} NAME_WE)
		set(c ${CMAKE_CURRENT_BINARY_DIR}/${name}.pb-c.c)
		set(h ${CMAKE_CURRENT_BINARY_DIR}/${name}.pb-c.h)
		add_custom_command(OUTPUT ${c} ${h}
			COMMAND ${PROTOC_C_EXECUTABLE} --proto_path=${dir}
				--c_out=${CMAKE_CURRENT_BINARY_DIR} ${abs}
			DEPENDS ${abs}
			COMMENT "protoc-c ${name}.proto" VERBATIM)
		list(APPEND srcs ${c})
		list(APPEND hdrs ${h})
	endforeach()
	set(${out_srcs} ${srcs} PARENT_SCOPE)
	set(${out_hdrs} ${hdrs} PARENT_SCOPE)
endfunction()
