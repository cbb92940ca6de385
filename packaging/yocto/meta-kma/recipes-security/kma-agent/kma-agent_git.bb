SUMMARY = "KMA cluster agent: appliance identity, mutual-TLS peer mesh, guided recovery"
DESCRIPTION = "kma-agent holds a key-management appliance's identity, notices replaced \
hardware, probes every peer with mutual TLS, names each failure and carries out the \
coordinator's leased recovery directives."
SECTION = "net"
# The project has no licence file yet: set LICENSE and LIC_FILES_CHKSUM when it does.
LICENSE = "CLOSED"

# Where the sources come from: set KMA_AGENT_GIT_URI (and SRCREV) in local.conf or a
# bbappend; for development against a checkout, use externalsrc instead (see README.md).
KMA_AGENT_GIT_URI ??= "git://git.example.com/kma-agent.git;protocol=https"
SRC_URI = "${KMA_AGENT_GIT_URI};branch=main"
SRCREV ??= "${AUTOREV}"
PV = "0.1.0+git"
S = "${WORKDIR}/git"

inherit cmake pkgconfig systemd useradd

# protoc-c runs on the build host (protobuf-c-native); the rest is linked by kma-agent
# (ldd of a Debian build: mbedtls, mbedx509, mbedcrypto, curl, protobuf-c, event_core,
# json-c, inih).
DEPENDS = "mbedtls curl protobuf-c protobuf-c-native libevent json-c libinih"

# The libraries as the project tests them (docs/dependencies.md, make test MBEDTLS=3.6
# CURL=image): meta-networking's mbedtls 3.6 with its upstream default configuration and
# shared libraries (the recipe's default PACKAGECONFIG), and curl with the mbedtls backend,
# HTTP/HTTPS only, without OpenSSL, zlib, libidn, nghttp2, LDAP, SSH or Kerberos. In the
# distro or local.conf (curl's PACKAGECONFIG is not this recipe's to set):
#   PACKAGECONFIG:pn-curl = "ipv6 basic bearer digest mbedtls proxy threaded-resolver verbose"
# The agent with 20 peers in 4 MiB (docs/dependencies.md, make bench-footprint) links
# libcurl, Mbed TLS and the small libraries statically: add -DKMA_STATIC_SMALL_LIBS=ON
# -DKMA_STATIC_CURL=ON to EXTRA_OECMAKE, with the archives in the sysroot (curl's are not
# built by default: DISABLE_STATIC:pn-curl = ""). Not built here.

# The board definition the agent uses by default (a folder under board/ of the sources);
# a product with its own board sets KMA_BOARD in its machine configuration.
KMA_BOARD ??= "${@{'aarch64': 'generic-aarch64', 'arm': 'generic-armhf', 'x86_64': 'generic-x86_64'}.get(d.getVar('TARGET_ARCH'), 'generic-x86_64')}"

# "coord": also build the coordinator and kmactl, packaged as ${PN}-coord (an appliance
# that coordinates its cluster itself); they need SQLite, libmicrohttpd and GnuTLS.
PACKAGECONFIG ??= ""
PACKAGECONFIG[coord] = "-DKMA_BUILD_COORD=ON,-DKMA_BUILD_COORD=OFF,sqlite3 libmicrohttpd gnutls"

EXTRA_OECMAKE = "-DKMA_BOARD=${KMA_BOARD} -DKMA_BUILD_TESTS=OFF -DKMA_WERROR=OFF \
                 -DKMA_SYSTEMD_UNIT_DIR=${systemd_system_unitdir} \
                 -DKMA_SYSUSERS_DIR=${nonarch_libdir}/sysusers.d"

PACKAGE_BEFORE_PN += "${@bb.utils.contains('PACKAGECONFIG', 'coord', '${PN}-coord', '', d)}"

SYSTEMD_PACKAGES = "${PN} ${@bb.utils.contains('PACKAGECONFIG', 'coord', '${PN}-coord', '', d)}"
SYSTEMD_SERVICE:${PN} = "kma-agent.service"
SYSTEMD_SERVICE:${PN}-coord = "kma-coord.service"
# The coordinator needs its certificates before it can start: enabled, not started at
# first boot without them (it fails with exit 78 and says why, and is not restarted).
SYSTEMD_AUTO_ENABLE:${PN}-coord = "disable"

# The agent runs as kma-agent: the unit says User= on boards with "unprivileged = true";
# on the others the agent starts as root and drops its network side to it ([agent] user).
USERADD_PACKAGES = "${PN} ${@bb.utils.contains('PACKAGECONFIG', 'coord', '${PN}-coord', '', d)}"
USERADD_PARAM:${PN} = "--system --no-create-home --home-dir ${localstatedir}/lib/kma-agent \
                       --shell /bin/false --user-group kma-agent"
USERADD_PARAM:${PN}-coord = "--system --no-create-home --home-dir ${localstatedir}/lib/kma-coord \
                             --shell /bin/false --user-group kma-coord"

# The identity record lives in /var/lib/kma-agent: on a read-only rootfs it must sit on
# the writable data partition (systemd's StateDirectory= creates it at start).
FILES:${PN} += "${datadir}/kma-agent ${nonarch_libdir}/sysusers.d/kma-agent.conf \
                ${localstatedir}/lib/kma-agent"
FILES:${PN}-coord = "${bindir}/kma-coord ${bindir}/kmactl ${sysconfdir}/kma-coord \
                     ${sysconfdir}/kma-agent/kmactl.conf ${mandir}/man8/kma-coord.8* \
                     ${mandir}/man1/kmactl.1* ${nonarch_libdir}/sysusers.d/kma-coord.conf \
                     ${localstatedir}/lib/kma-coord"
CONFFILES:${PN} = "${sysconfdir}/kma-agent/agent.conf"
CONFFILES:${PN}-coord = "${sysconfdir}/kma-coord/coord.conf ${sysconfdir}/kma-agent/kmactl.conf"
