# Finds every dependency through pkg-config; a missing one stops the configure
# with the Debian package that provides it.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config (or run scripts/install-deps.sh)")
endif()

function(meshcast_require_pkg target module debian_pkg)
  pkg_check_modules(${target} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "Missing dependency '${module}': apt-get install ${debian_pkg} (or run scripts/install-deps.sh)")
  endif()
endfunction()

meshcast_require_pkg(GLIB     "glib-2.0>=2.74;gobject-2.0;gio-2.0" libglib2.0-dev)
meshcast_require_pkg(NICE     "nice>=0.1.18"                 libnice-dev)
meshcast_require_pkg(SRTP     "libsrtp2>=2.4"                libsrtp2-dev)
meshcast_require_pkg(OPENSSL  "openssl>=3.0"                 libssl-dev)
meshcast_require_pkg(SOUP     "libsoup-3.0"                  libsoup-3.0-dev)
meshcast_require_pkg(GST      "gstreamer-1.0>=1.22;gstreamer-app-1.0;gstreamer-audio-1.0;gstreamer-video-1.0;gstreamer-rtp-1.0;gstreamer-pbutils-1.0" "libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev")
# WHIP / WHEP legs: webrtcbin's typed API (session descriptions, transceivers) and SDP.
meshcast_require_pkg(GSTWEBRTC "gstreamer-webrtc-1.0>=1.22;gstreamer-sdp-1.0" "libgstreamer-plugins-bad1.0-dev libgstreamer-plugins-base1.0-dev")
meshcast_require_pkg(OPUS     "opus"                         libopus-dev)
meshcast_require_pkg(VPX      "vpx"                          libvpx-dev)
meshcast_require_pkg(SQLITE   "sqlite3"                      libsqlite3-dev)
meshcast_require_pkg(HIREDIS  "hiredis"                      libhiredis-dev)

find_package(nlohmann_json 3.10 QUIET)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "Missing dependency nlohmann-json: apt-get install nlohmann-json3-dev (or run scripts/install-deps.sh)")
endif()
find_package(Threads REQUIRED)
if(MESHCAST_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    message(FATAL_ERROR "Missing dependency GoogleTest: apt-get install libgtest-dev googletest (or run scripts/install-deps.sh)")
  endif()
endif()

# Optional: the viewer names glimagesink's X11 window after the stream (libX11 +
# gstreamer-gl, both from libgstreamer-plugins-base1.0-dev / libx11-dev).
pkg_check_modules(GSTGLX QUIET IMPORTED_TARGET GLOBAL gstreamer-gl-1.0 x11)
