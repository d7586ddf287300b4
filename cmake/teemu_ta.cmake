# teemu_add_ta(<target> UUID <uuid> SOURCES <src>... [INCLUDES <dir>...] [GP11] [LOG_LEVEL n]
#              [OUTPUT_DIR <dir>] [INSTALL | INSTALL_DIR <dir>])
# Builds an OP-TEE style TA with the teemu TA dev kit into ${TEEMU_TA_OUTPUT_DIR}/<uuid>.ta (or
# OUTPUT_DIR/<uuid>.ta). The UUID must match the TA's user_ta_header_defines.h, which must be in
# the current source directory or an INCLUDES directory. GP11 builds against the GP 1.1 API
# (CFG_TA_OPTEE_CORE_API_COMPAT_1_1). INSTALL installs it where teemu looks for TAs by default,
# INSTALL_DIR into that directory instead.
function(teemu_add_ta target)
  cmake_parse_arguments(TA "GP11;INSTALL" "UUID;LOG_LEVEL;OUTPUT_DIR;INSTALL_DIR"
                        "SOURCES;INCLUDES" ${ARGN})
  if(NOT TA_UUID)
    message(FATAL_ERROR "teemu_add_ta(${target}): UUID is required")
  endif()
  add_library(${target} MODULE ${TA_SOURCES} ${TEEMU_DEVKIT_DIR}/src/user_ta_header.c)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${TA_INCLUDES}
                                               ${TEEMU_DEVKIT_DIR}/include)
  target_compile_options(${target} PRIVATE -Wall -O2)
  if(TA_LOG_LEVEL)
    target_compile_definitions(${target} PRIVATE TRACE_LEVEL=${TA_LOG_LEVEL})
  endif()
  if(TA_GP11)
    target_compile_definitions(${target} PRIVATE __OPTEE_CORE_API_COMPAT_1_1=1)
  endif()
  if(NOT TA_OUTPUT_DIR)
    set(TA_OUTPUT_DIR ${TEEMU_TA_OUTPUT_DIR})
  endif()
  set_target_properties(${target} PROPERTIES PREFIX "" SUFFIX ".ta" OUTPUT_NAME ${TA_UUID}
                        LIBRARY_OUTPUT_DIRECTORY ${TA_OUTPUT_DIR})
  if(TA_INSTALL)  # a TA teemu ships: installed where teemu looks by default
    set(TA_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/teemu/ta)
  endif()
  if(TA_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${TA_INSTALL_DIR})
  endif()
endfunction()
