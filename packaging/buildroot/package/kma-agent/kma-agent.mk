################################################################################
#
# kma-agent
#
################################################################################

KMA_AGENT_VERSION = 0.1.0
# Built from the checkout this BR2_EXTERNAL tree lives in (packaging/buildroot/../..).
# For a release, use a tarball or git site instead:
#   KMA_AGENT_SITE = https://git.yourcompany.example/kma-agent.git
#   KMA_AGENT_SITE_METHOD = git
KMA_AGENT_SITE = $(BR2_EXTERNAL_KMA_PATH)/../..
KMA_AGENT_SITE_METHOD = local
# No licence file in the project yet: set this (and _LICENSE_FILES) when there is one.
KMA_AGENT_LICENSE = PROPRIETARY

# protoc-c runs on the host (host-protobuf-c); pkg-config finds the libraries.
KMA_AGENT_DEPENDENCIES = host-pkgconf mbedtls libcurl protobuf-c host-protobuf-c \
	libevent json-c inih

KMA_AGENT_CONF_OPTS = \
	-DKMA_BOARD=$(call qstrip,$(BR2_PACKAGE_KMA_AGENT_BOARD)) \
	-DKMA_BUILD_TESTS=OFF \
	-DKMA_WERROR=OFF \
	-DKMA_SYSTEMD_UNIT_DIR=/usr/lib/systemd/system \
	-DKMA_SYSUSERS_DIR=/usr/lib/sysusers.d

ifeq ($(BR2_PACKAGE_KMA_AGENT_COORD),y)
KMA_AGENT_CONF_OPTS += -DKMA_BUILD_COORD=ON
KMA_AGENT_DEPENDENCIES += sqlite libmicrohttpd gnutls
define KMA_AGENT_COORD_USER
	kma-coord -1 kma-coord -1 * /var/lib/kma-coord - - KMA cluster coordinator
endef
else
KMA_AGENT_CONF_OPTS += -DKMA_BUILD_COORD=OFF
endif

# The agent runs as kma-agent: the unit says User= on boards with "unprivileged = true";
# on the others the agent starts as root and drops its network side to it ([agent] user).
define KMA_AGENT_USERS
	kma-agent -1 kma-agent -1 * /var/lib/kma-agent - - KMA cluster agent
	$(KMA_AGENT_COORD_USER)
endef

# CMake installs the units; without systemd they are of no use on the target.
ifneq ($(BR2_INIT_SYSTEMD),y)
define KMA_AGENT_REMOVE_UNITS
	rm -f $(TARGET_DIR)/usr/lib/systemd/system/kma-agent.service \
		$(TARGET_DIR)/usr/lib/systemd/system/kma-coord.service
endef
KMA_AGENT_POST_INSTALL_TARGET_HOOKS += KMA_AGENT_REMOVE_UNITS
endif

$(eval $(cmake-package))
