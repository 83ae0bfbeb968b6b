################################################################################
#
# mpegts-js
#
################################################################################

# The same version web/package.json pins; ci/check-image.sh asserts that the two agree.
MPEGTS_JS_VERSION = 1.8.0
MPEGTS_JS_SOURCE = mpegts.js-$(MPEGTS_JS_VERSION).tgz
MPEGTS_JS_SITE = https://registry.npmjs.org/mpegts.js/-
MPEGTS_JS_LICENSE = Apache-2.0
MPEGTS_JS_LICENSE_FILES = LICENSE

define MPEGTS_JS_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0644 $(@D)/dist/mpegts.js \
		$(TARGET_DIR)/usr/share/moment-recorder/www/mpegts.js
endef

$(eval $(generic-package))
