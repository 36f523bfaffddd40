# libdhtreg.cmake - libdhtreg, the C client library (shared and static), its headers and pkg-config file
#
# Included by the top-level CMakeLists.txt before install.cmake. Only the
# dhtreg_* functions of include/dhtreg/*.h are exported (a version script);
# the code it computes resource ids and reads names files with (crypto/,
# api/names.c) is built in.
include(GNUInstallDirs)

set(DR_CLIENT_SOURCES api/client.c api/client_json.c api/client_uv.c api/client_heartbeat.c
    api/client_names.c api/names.c crypto/ids.c crypto/entry.c crypto/entry_codec.c crypto/identity.c)

add_library(libdhtreg SHARED ${DR_CLIENT_SOURCES})
add_library(libdhtreg_static STATIC ${DR_CLIENT_SOURCES})
foreach(t libdhtreg libdhtreg_static)
  target_include_directories(${t} PUBLIC $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>
                                         $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${t} PUBLIC PkgConfig::UV PRIVATE PkgConfig::SODIUM PkgConfig::MSGPACK PkgConfig::JANSSON Threads::Threads)
  set_target_properties(${t} PROPERTIES OUTPUT_NAME dhtreg LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
                        ARCHIVE_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
endforeach()
# visible, and then the version script keeps what is exported to dhtreg_*
set_target_properties(libdhtreg PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION 0 C_VISIBILITY_PRESET default
  LINK_DEPENDS ${CMAKE_SOURCE_DIR}/dist/libdhtreg.map)
target_link_options(libdhtreg PRIVATE -Wl,--version-script=${CMAKE_SOURCE_DIR}/dist/libdhtreg.map)

# the prefix relative to the .pc file, so that any --prefix given at install time holds
string(REGEX REPLACE "[^/]+" ".." DR_PC_UP "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
set(DR_PC_PREFIX "\${pcfiledir}/${DR_PC_UP}")
configure_file(${CMAKE_SOURCE_DIR}/dist/pkgconfig/dhtreg.pc.in ${CMAKE_BINARY_DIR}/dhtreg.pc @ONLY)

install(TARGETS libdhtreg libdhtreg_static
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES include/dhtreg/dhtreg.h include/dhtreg/dhtreg_uv.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dhtreg)
install(FILES ${CMAKE_BINARY_DIR}/dhtreg.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# examples/c: built against the shared library, as a program of yours would be
if(DHTREG_TESTS)
  foreach(ex service client)
    add_executable(example-${ex} examples/c/${ex}.c)
    target_link_libraries(example-${ex} PRIVATE libdhtreg)
    set_target_properties(example-${ex} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
  endforeach()
endif()
