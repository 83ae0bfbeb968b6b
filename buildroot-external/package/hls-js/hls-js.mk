################################################################################
#
# hls-js
#
################################################################################

# The same version web/package.json pins; ci/check-image.sh asserts that the two agree.
HLS_JS_VERSION = 1.7.4
HLS_JS_SOURCE = hls.js-$(HLS_JS_VERSION).tgz
HLS_JS_SITE = https://registry.npmjs.org/hls.js/-
HLS_JS_LICENSE = Apache-2.0
HLS_JS_LICENSE_FILES = LICENSE

define HLS_JS_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0644 $(@D)/dist/hls.min.js \
		$(TARGET_DIR)/usr/share/moment-recorder/www/hls.min.js
endef

$(eval $(generic-package))
