# Embed.cmake — compiles templates/*.html and static/** into the binary.
#
# Builds the generator tools/embed.c as a build-host executable (lumi_embed)
# and adds a custom command writing ${LUMI_EMBED_C} (<build>/embedded.c), the
# table src/core/tmpl.c serves from. The file lists are globbed with
# CONFIGURE_DEPENDS, so adding, removing or editing a template or static file
# regenerates the table on the next build.
#
# Use, after add_library(lumi_lib ...):
#     include(cmake/Embed.cmake)
#     lumi_embed_into(lumi_lib)
# lumi_embed_into() adds the generated source and defines LUMI_HAVE_EMBED,
# which switches tmpl.c from its empty fallback table to the generated one
# (both or neither: one without the other fails to link, loudly).

include_guard(GLOBAL)

get_filename_component(LUMI_EMBED_ROOT ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)

add_executable(lumi_embed ${LUMI_EMBED_ROOT}/tools/embed.c)

file(GLOB LUMI_EMBED_TEMPLATES CONFIGURE_DEPENDS RELATIVE ${LUMI_EMBED_ROOT}
     ${LUMI_EMBED_ROOT}/templates/*.html)
# Mail templates (templates/mail/NAME.txt and NAME.html) embed as "mail/NAME.txt".
file(GLOB LUMI_EMBED_MAIL CONFIGURE_DEPENDS RELATIVE ${LUMI_EMBED_ROOT}
     ${LUMI_EMBED_ROOT}/templates/mail/*.txt ${LUMI_EMBED_ROOT}/templates/mail/*.html)
file(GLOB_RECURSE LUMI_EMBED_STATIC CONFIGURE_DEPENDS RELATIVE ${LUMI_EMBED_ROOT}
     ${LUMI_EMBED_ROOT}/static/*)
# Data the code reads (data/common-passwords.txt): embedded as "data/NAME", never served.
file(GLOB LUMI_EMBED_DATA CONFIGURE_DEPENDS RELATIVE ${LUMI_EMBED_ROOT}
     ${LUMI_EMBED_ROOT}/data/*.txt)
set(LUMI_EMBED_FILES ${LUMI_EMBED_TEMPLATES} ${LUMI_EMBED_MAIL} ${LUMI_EMBED_STATIC}
    ${LUMI_EMBED_DATA})
list(TRANSFORM LUMI_EMBED_FILES PREPEND ${LUMI_EMBED_ROOT}/ OUTPUT_VARIABLE LUMI_EMBED_DEPS)

set(LUMI_EMBED_C ${CMAKE_BINARY_DIR}/embedded.c)
add_custom_command(
    OUTPUT ${LUMI_EMBED_C}
    COMMAND lumi_embed ${LUMI_EMBED_C} ${LUMI_EMBED_ROOT} ${LUMI_EMBED_FILES}
    DEPENDS lumi_embed ${LUMI_EMBED_DEPS}
    COMMENT "Embedding templates and static files"
    VERBATIM)

function(lumi_embed_into target)
    target_sources(${target} PRIVATE ${LUMI_EMBED_C})
    target_compile_definitions(${target} PRIVATE LUMI_HAVE_EMBED=1)
endfunction()
