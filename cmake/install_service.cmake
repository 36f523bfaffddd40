# install_service.cmake - run by `cmake --install`: dhtregd.service with the install prefix's paths, and /etc/default/dhtregd
#
# Given by install.cmake: DR_SOURCE_DIR, DR_BINARY_DIR, and as GNUInstallDirs
# and the cache set them: DR_BINDIR, DR_SYSCONFDIR, DR_UNITDIR (each relative
# to the prefix, or absolute). The prefix is the one of this install
# (CMAKE_INSTALL_PREFIX here is what --prefix said), so the sysconfdir is
# worked out here as GNUInstallDirs does at configure time: /etc for the
# prefix /usr or /, /etc/opt/X for /opt/X, PREFIX/etc otherwise.
# file(INSTALL) adds $ENV{DESTDIR} and lists the files in the manifest.

function(dr_full_dir var dir)
  if(IS_ABSOLUTE "${dir}")
    set(${var} "${dir}" PARENT_SCOPE)
  else()
    set(${var} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

string(REGEX REPLACE "(.)/+$" "\\1" dr_prefix "${CMAKE_INSTALL_PREFIX}")
if(IS_ABSOLUTE "${DR_SYSCONFDIR}")
  set(dr_sysconfdir "${DR_SYSCONFDIR}")
elseif(dr_prefix STREQUAL "/usr" OR dr_prefix STREQUAL "/")
  set(dr_sysconfdir "/${DR_SYSCONFDIR}")
elseif(dr_prefix MATCHES "^/opt/")
  set(dr_sysconfdir "/${DR_SYSCONFDIR}${dr_prefix}")
else()
  set(dr_sysconfdir "${dr_prefix}/${DR_SYSCONFDIR}")
endif()
dr_full_dir(DHTREG_UNIT_BINDIR "${DR_BINDIR}")
dr_full_dir(dr_unitdir "${DR_UNITDIR}")
set(DHTREG_UNIT_SYSCONFDIR "${dr_sysconfdir}")

configure_file("${DR_SOURCE_DIR}/dist/systemd/dhtregd.service.in"
               "${DR_BINARY_DIR}/dist/dhtregd.service" @ONLY)
file(INSTALL DESTINATION "${dr_unitdir}" TYPE FILE FILES "${DR_BINARY_DIR}/dist/dhtregd.service")

# an environment file edited on this machine is kept (dpkg does the same for
# the package's conffile)
set(dr_env "$ENV{DESTDIR}${dr_sysconfdir}/default/dhtregd")
if(EXISTS "${dr_env}")
  file(READ "${dr_env}" dr_have)
  file(READ "${DR_SOURCE_DIR}/dist/default/dhtregd" dr_ours)
  if(NOT dr_have STREQUAL dr_ours)
    message(STATUS "Keeping: ${dr_env} (changed here; the shipped one is ${DR_SOURCE_DIR}/dist/default/dhtregd)")
    list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${dr_sysconfdir}/default/dhtregd")
    return()
  endif()
endif()
file(INSTALL DESTINATION "${dr_sysconfdir}/default" TYPE FILE FILES "${DR_SOURCE_DIR}/dist/default/dhtregd")
