# install.cmake - what `cmake --install` puts where, the man pages help2man writes at build time, and the Debian package (cpack -G DEB)
#
# Included at the end of the top-level CMakeLists.txt. Paths follow
# GNUInstallDirs, relative to the install prefix, so that
# `cmake --install build --prefix P` (and DESTDIR) writes a whole tree under P:
#   bin/dhtregd, bin/dhtreg                    the daemon and the CLI
#   share/man/man8/dhtregd.8, man1/dhtreg.1     from their --help (help2man)
#   lib/systemd/system/dhtregd.service         ExecStart=P/bin/dhtregd
#   lib/sysusers.d/dhtreg.conf                 the system user and group dhtreg
#   <sysconfdir>/default/dhtregd               the service's environment
#   share/bash-completion/completions/         dhtregd, and dhtreg (written by `dhtreg completion bash`)
#   share/doc/dhtreg/                          README.md, LICENSE, docs/*.md
include(GNUInstallDirs)

set(DR_CMAKE_DIR ${CMAKE_CURRENT_LIST_DIR})
set(DHTREG_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "where dhtregd.service goes: relative to the install prefix, or absolute")
set(DHTREG_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING
    "where the sysusers.d file goes: relative to the install prefix, or absolute")
option(DHTREG_MAN "Write the man pages with help2man" ON)

# ---- man pages: help2man on the built programs, plus dist/man/*.h2m ----------
set(DR_MAN_DIR ${CMAKE_BINARY_DIR}/man)
set(DR_MAN_PAGES "")
if(DHTREG_MAN)
  find_program(HELP2MAN help2man)
  if(NOT HELP2MAN)
    message(FATAL_ERROR "help2man is missing: ./scripts/setup.sh (or apt install help2man) writes "
                        "the man pages; -DDHTREG_MAN=OFF builds without them")
  endif()
  foreach(page dhtregd.8 dhtreg.1)
    get_filename_component(prog ${page} NAME_WE)
    string(REGEX REPLACE ".*\\." "" section ${page})
    if(NOT TARGET ${prog})
      continue()
    endif()
    add_custom_command(OUTPUT ${DR_MAN_DIR}/${page}
      COMMAND ${CMAKE_COMMAND} -DHELP2MAN=${HELP2MAN} -DEXEC=$<TARGET_FILE:${prog}>
              -DWRAPPER=${DR_CMAKE_DIR}/help2man-exec.sh
              -DINCLUDE=${CMAKE_SOURCE_DIR}/dist/man/${prog}.h2m -DSECTION=${section}
              -DOUT=${DR_MAN_DIR}/${page} -DWORK=${DR_MAN_DIR}/h2m -P ${DR_CMAKE_DIR}/man.cmake
      DEPENDS ${prog} ${CMAKE_SOURCE_DIR}/dist/man/${prog}.h2m ${DR_CMAKE_DIR}/man.cmake
              ${DR_CMAKE_DIR}/help2man-exec.sh
      COMMENT "Writing the man page ${page}"
      VERBATIM)
    list(APPEND DR_MAN_PAGES ${DR_MAN_DIR}/${page})
    install(FILES ${DR_MAN_DIR}/${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(dhtreg-man ALL DEPENDS ${DR_MAN_PAGES})
endif()

# ---- programs, files ----------------------------------------------------------
install(TARGETS dhtregd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET dhtreg)
  install(TARGETS dhtreg RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(FILES ${CMAKE_SOURCE_DIR}/dist/sysusers.d/dhtreg.conf DESTINATION ${DHTREG_SYSUSERS_DIR})
install(FILES ${CMAKE_SOURCE_DIR}/dist/bash-completion/dhtregd
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
# dhtreg's completion is written at build time by the CLI itself, from its
# tables of commands and options (`dhtreg completion bash`)
if(TARGET dhtreg)
  set(DR_COMPLETION ${CMAKE_BINARY_DIR}/completion/dhtreg)
  add_custom_command(OUTPUT ${DR_COMPLETION}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/completion
    COMMAND ${CMAKE_COMMAND} -DEXEC=$<TARGET_FILE:dhtreg> -DOUT=${DR_COMPLETION} -P ${DR_CMAKE_DIR}/completion.cmake
    DEPENDS dhtreg ${DR_CMAKE_DIR}/completion.cmake
    COMMENT "Writing dhtreg's bash completion"
    VERBATIM)
  add_custom_target(dhtreg-completion ALL DEPENDS ${DR_COMPLETION})
  install(FILES ${DR_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
endif()
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
# under docs/, where README.md's links point
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs FILES_MATCHING PATTERN "*.md")

# The unit and the environment file depend on the prefix given to
# `cmake --install --prefix`, known only then: cmake/install_service.cmake
# writes them at install time.
install(CODE "
  set(DR_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
  set(DR_BINARY_DIR \"${CMAKE_BINARY_DIR}\")
  set(DR_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(DR_SYSCONFDIR \"${CMAKE_INSTALL_SYSCONFDIR}\")
  set(DR_UNITDIR \"${DHTREG_SYSTEMD_UNITDIR}\")
  include(\"${DR_CMAKE_DIR}/install_service.cmake\")
")

# ---- the Debian package: cd build && cpack -G DEB ------------------------------
set(DHTREG_PACKAGE_MAINTAINER "the dhtreg authors" CACHE STRING "Maintainer: of the Debian package")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dhtreg)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "peer-to-peer service registry on a DHT")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/LICENSE)
# installed as if into /usr (and /etc) under a staging DESTDIR, so that the
# unit's ExecStart says /usr/bin/dhtregd and not the staging directory
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${DHTREG_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# the control file's long description: CPack indents it and writes " ." for the empty line
set(CPACK_PACKAGE_DESCRIPTION "Every machine runs one node, dhtregd; the nodes form a Kademlia DHT
(OpenDHT) and store signed resources (a named group of services) and
records (one provider of a resource: where to reach it, its metadata, its
expiry). Programs talk to their own node over a JSON-RPC Unix socket, or
use the dhtreg command line, to advertise what they offer and resolve what
they need. There is no central server.

This package runs the node as the systemd service dhtregd.service, as the
system user dhtreg; members of group dhtreg may use its socket,
/run/dhtregd/rpc.sock. Its settings are in /etc/default/dhtregd.")
set(CPACK_STRIP_FILES ON)
find_program(DR_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(DR_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd | systemd-standalone-sysusers")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/dist/debian/postinst ${CMAKE_SOURCE_DIR}/dist/debian/prerm
    ${CMAKE_SOURCE_DIR}/dist/debian/postrm ${CMAKE_SOURCE_DIR}/dist/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
