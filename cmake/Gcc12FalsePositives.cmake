# GCC 12 at -O3 (the Release build) reports false warnings inside libstdc++ once it has
# inlined a std::string or std::vector operation into our code, and -Werror makes each a failed
# build:
#   restrict      char_traits<char>::copy "accessing 9223372036854775810 or more bytes ... may
#                 overlap" when a short string literal is concatenated with, inserted into or
#                 assigned to a std::string: GCC bug 105329 (duplicate: 105651).
#   array-bounds, stringop-overflow
#                 __builtin_memmove "offset N is out of the bounds [0, N]" / "writing 1 or more
#                 bytes into a region of size 0" when a std::vector<unsigned char> grows by
#                 resize() or insert(): GCC bug 107852 (one of the false positives collected under
#                 the -Warray-bounds meta-bug 56456).
# Neither is a defect in our code; both are present in every GCC 12 release (Debian 12's is 12.2).
#
# medanchor_gcc12_false_positive(WARNING TARGET FILE...) turns -W<WARNING> off for exactly the
# listed source files of TARGET, each of which holds a construct that trips the bug at -O3, and
# only under GCC 12. Every other file, and every other compiler, keeps the warning and -Werror.
# A file that trips one of these bugs later is added to the list in the top-level CMakeLists.txt
# (the Release build in scripts/test.sh finds it); -Werror is never turned off as a whole, and in
# product code (src/) these warnings are only ever off file by file.
# medanchor_gcc12_false_positives_off_below_here() turns all three off, under GCC 12 only, for every
# directory added after the call (a macro: add_compile_options in the caller's directory scope).
# The top-level CMakeLists.txt calls it after src/ and before tests/, bench/ and fuzz/.
macro(medanchor_gcc12_false_positives_off_below_here)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU"
       AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
       AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
        add_compile_options(-Wno-restrict -Wno-array-bounds -Wno-stringop-overflow)
    endif()
endmacro()

function(medanchor_gcc12_false_positive warning target)
    if(NOT warning MATCHES "^(restrict|array-bounds|stringop-overflow)$")
        message(FATAL_ERROR "medanchor_gcc12_false_positive: ${warning} is not a known GCC 12 "
                            "false positive (restrict, array-bounds, stringop-overflow)")
    endif()
    if(NOT (CMAKE_CXX_COMPILER_ID STREQUAL "GNU"
            AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
            AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13))
        return()
    endif()
    get_target_property(dir ${target} SOURCE_DIR)
    foreach(file IN LISTS ARGN)
        set_property(SOURCE ${dir}/${file} TARGET_DIRECTORY ${target}
                     APPEND PROPERTY COMPILE_OPTIONS -Wno-${warning})
    endforeach()
endfunction()
