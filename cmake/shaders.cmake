# Compiles GLSL compute shaders to SPIR-V at build time (glslc, glslangValidator as fallback),
# validates each with spirv-val and embeds them as byte arrays in the library.

find_program(GLIMPSE_GLSLC glslc)
find_program(GLIMPSE_GLSLANG glslangValidator)
find_program(GLIMPSE_SPIRV_VAL spirv-val)
if(NOT GLIMPSE_GLSLC AND NOT GLIMPSE_GLSLANG)
  message(FATAL_ERROR "No GLSL compiler found: install the Debian package glslc (or glslang-tools for glslangValidator); scripts/setup.sh does")
endif()
if(NOT GLIMPSE_SPIRV_VAL)
  message(FATAL_ERROR "spirv-val not found: install the Debian package spirv-tools (scripts/setup.sh does)")
endif()

set(GLIMPSE_SPIRV_ENV vulkan1.1)

# glimpse_shader(<name> <source.comp> [DEFINES A=1 B ...])
# Adds one variant <name>.spv built from <source.comp> with the given preprocessor defines.
function(glimpse_shader name source)
  cmake_parse_arguments(ARG "" "" "DEFINES" ${ARGN})
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${source})
  set(spv ${CMAKE_CURRENT_BINARY_DIR}/spv/${name}.spv)
  set(defs "")
  foreach(d ${ARG_DEFINES})
    list(APPEND defs -D${d})
  endforeach()
  # The compiler writes the list of included files to a depfile, so editing, adding or renaming
  # a .glsl include rebuilds exactly the variants that use it.
  set(dep ${CMAKE_CURRENT_BINARY_DIR}/spv/${name}.d)
  if(GLIMPSE_GLSLC)
    set(compile ${GLIMPSE_GLSLC} --target-env=${GLIMPSE_SPIRV_ENV} -O -Werror -I ${CMAKE_CURRENT_SOURCE_DIR} ${defs}
        -MD -MF ${dep} -MT ${spv} -o ${spv} ${src})
  else()
    set(compile ${GLIMPSE_GLSLANG} -V --target-env ${GLIMPSE_SPIRV_ENV} -I${CMAKE_CURRENT_SOURCE_DIR} ${defs}
        --depfile ${dep} -o ${spv} ${src})
  endif()
  add_custom_command(
    OUTPUT ${spv}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/spv
    COMMAND ${compile}
    COMMAND ${GLIMPSE_SPIRV_VAL} --target-env ${GLIMPSE_SPIRV_ENV} ${spv}
    DEPENDS ${src}
    DEPFILE ${dep}
    COMMENT "GLSL ${name}"
    VERBATIM)
  set_property(GLOBAL APPEND PROPERTY GLIMPSE_SPV_NAMES ${name})
  set_property(GLOBAL APPEND PROPERTY GLIMPSE_SPV_FILES ${spv})
endfunction()

# Writes shaders-embedded.cpp holding every variant's SPIR-V and a lookup table.
function(glimpse_embed_shaders)
  get_property(names GLOBAL PROPERTY GLIMPSE_SPV_NAMES)
  get_property(files GLOBAL PROPERTY GLIMPSE_SPV_FILES)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/shaders-embedded.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} "-DNAMES=${names}" "-DFILES=${files}" -DOUT=${out}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed-spirv.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/embed-spirv.cmake
    COMMENT "Embedding SPIR-V"
    VERBATIM)
  add_custom_target(glimpse_shaders DEPENDS ${out})
  set(GLIMPSE_SHADER_SOURCES ${out} PARENT_SCOPE)
endfunction()
