# lwip.cmake: builds lwIP 2.1.3's core as the static library kt_lwip, configured by
# netstack/lwipopts.h and netstack/arch/cc.h.
#
# The source is never committed. KT_LWIP_SOURCE_DIR names an lwIP tree (for example one from
# Homebrew or a git checkout on macOS); when it is empty, third_party/lwip is used and, if absent,
# fetched at configure time by scripts/fetch-lwip.sh (Debian's verified source package).
# lwIP is third-party code: it is compiled with its own relaxed flags (-w, no -Werror) and its
# headers are SYSTEM includes, so our strict warnings apply to our code only.

get_filename_component(KT_LWIP_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(KT_LWIP_SOURCE_DIR "" CACHE PATH "lwIP 2.1.3 source tree (empty: third_party/lwip, fetched on demand)")
# The issue also names -DKUBETUN_LWIP_SOURCE_DIR=; accept it as an alias.
if(NOT KT_LWIP_SOURCE_DIR AND KUBETUN_LWIP_SOURCE_DIR)
  set(KT_LWIP_SOURCE_DIR "${KUBETUN_LWIP_SOURCE_DIR}")
endif()

if(KT_LWIP_SOURCE_DIR)
  set(KT_LWIP_DIR "${KT_LWIP_SOURCE_DIR}")
else()
  set(KT_LWIP_DIR "${KT_LWIP_ROOT}/third_party/lwip")
  if(NOT EXISTS "${KT_LWIP_DIR}/src/core/tcp.c")
    message(STATUS "lwIP: fetching the source into ${KT_LWIP_DIR} (scripts/fetch-lwip.sh)")
    execute_process(
      COMMAND bash "${KT_LWIP_ROOT}/scripts/fetch-lwip.sh" "${KT_LWIP_DIR}"
      RESULT_VARIABLE kt_lwip_rc
      OUTPUT_VARIABLE kt_lwip_out
      ERROR_VARIABLE kt_lwip_err)
    if(NOT kt_lwip_rc EQUAL 0)
      message(FATAL_ERROR "lwIP source could not be fetched (scripts/fetch-lwip.sh ${KT_LWIP_DIR}): "
        "${kt_lwip_err}Set -DKT_LWIP_SOURCE_DIR=/path/to/lwip-2.1.3 to use another tree.")
    endif()
  endif()
endif()
if(NOT EXISTS "${KT_LWIP_DIR}/src/core/tcp.c")
  message(FATAL_ERROR "KT_LWIP_SOURCE_DIR=${KT_LWIP_DIR} is not an lwIP source tree (no src/core/tcp.c)")
endif()

# Core only: no api/ (netconn, sockets), no apps/, no netif/ drivers. IPv6 sources are left out
# while LWIP_IPV6 is 0 in lwipopts.h; add core/ipv6/*.c when it is turned on.
set(KT_LWIP_SOURCES
  ${KT_LWIP_DIR}/src/core/init.c
  ${KT_LWIP_DIR}/src/core/def.c
  ${KT_LWIP_DIR}/src/core/inet_chksum.c
  ${KT_LWIP_DIR}/src/core/ip.c
  ${KT_LWIP_DIR}/src/core/mem.c
  ${KT_LWIP_DIR}/src/core/memp.c
  ${KT_LWIP_DIR}/src/core/netif.c
  ${KT_LWIP_DIR}/src/core/pbuf.c
  ${KT_LWIP_DIR}/src/core/stats.c
  ${KT_LWIP_DIR}/src/core/sys.c
  ${KT_LWIP_DIR}/src/core/tcp.c
  ${KT_LWIP_DIR}/src/core/tcp_in.c
  ${KT_LWIP_DIR}/src/core/tcp_out.c
  ${KT_LWIP_DIR}/src/core/timeouts.c
  ${KT_LWIP_DIR}/src/core/udp.c
  ${KT_LWIP_DIR}/src/core/ipv4/icmp.c
  ${KT_LWIP_DIR}/src/core/ipv4/ip4.c
  ${KT_LWIP_DIR}/src/core/ipv4/ip4_addr.c
  ${KT_LWIP_DIR}/src/core/ipv4/ip4_frag.c)

add_library(kt_lwip STATIC ${KT_LWIP_SOURCES})
# lwipopts.h and arch/cc.h live in netstack/; they are ours and are found before lwIP's headers.
target_include_directories(kt_lwip PUBLIC "${KT_LWIP_ROOT}/netstack")
target_include_directories(kt_lwip SYSTEM PUBLIC "${KT_LWIP_DIR}/src/include")
target_compile_options(kt_lwip PRIVATE -w)
# lwIP is C99 with some GNU-isms in its headers; our C11 setting is fine for it.
set_target_properties(kt_lwip PROPERTIES C_EXTENSIONS OFF POSITION_INDEPENDENT_CODE ON)
