# bpf_object(NAME SOURCE [DEPENDS headers...] [DEFINES MACRO...])
#
# Compiles SOURCE (with -DMACRO for each of DEFINES) with clang -target bpf into NAME.bpf.o
# and generates NAME.skel.h with bpftool gen skeleton, in the manner of libbpf-bootstrap.
# Creates:
#   NAME_skel    INTERFACE target: link it to include "NAME.skel.h"
#   NAME_object  the path of the object file, as a cache-free variable in the parent scope
# Only the distro's UAPI headers (linux-libc-dev) are used, never the running kernel's.
find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  set(BPF_TARGET_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()
set(BPF_MULTIARCH_INCLUDE /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})

function(bpf_object name source)
  cmake_parse_arguments(ARG "" "" "DEPENDS;DEFINES" ${ARGN})
  list(TRANSFORM ARG_DEFINES PREPEND -D)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -Wall -Werror
            -I${PROJECT_SOURCE_DIR}/bpf -I${PROJECT_SOURCE_DIR}/bpf/include
            -I${BPF_MULTIARCH_INCLUDE} ${ARG_DEFINES}
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${source} -o ${obj}
    DEPENDS ${source} ${ARG_DEPENDS}
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  set(${name}_object ${obj} PARENT_SCOPE)
endfunction()
