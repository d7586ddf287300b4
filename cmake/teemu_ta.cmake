# teemu_add_ta(<target> SOURCES <src>... [INCLUDES <dir>...])
# Builds an OP-TEE style TA with the teemu TA dev kit: a shared object named <uuid>.ta, where the
# UUID comes from the TA's user_ta_header_defines.h (passed as UUID). The TA's directory must hold
# user_ta_header_defines.h.
function(teemu_add_ta target)
  cmake_parse_arguments(TA "" "UUID" "SOURCES;INCLUDES" ${ARGN})
  if(NOT TA_UUID)
    message(FATAL_ERROR "teemu_add_ta(${target}): UUID is required")
  endif()
  add_library(${target} MODULE ${TA_SOURCES} ${TEEMU_DEVKIT_DIR}/src/user_ta_header.c)
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${TA_INCLUDES}
                                               ${TEEMU_DEVKIT_DIR}/include)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -O2)
  set_target_properties(${target} PROPERTIES PREFIX "" SUFFIX ".ta" OUTPUT_NAME ${TA_UUID}
                        LIBRARY_OUTPUT_DIRECTORY ${TEEMU_TA_OUTPUT_DIR})
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/teemu/ta)
endfunction()
