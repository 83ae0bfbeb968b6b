# The packages of the MOMENT external tree; ci/check-image.sh asserts that every package
# directory is both sourced in Config.in and included here.
include $(BR2_EXTERNAL_MOMENT_PATH)/package/moment-recorder/moment-recorder.mk
include $(BR2_EXTERNAL_MOMENT_PATH)/package/rclone/rclone.mk
include $(BR2_EXTERNAL_MOMENT_PATH)/package/hls-js/hls-js.mk
include $(BR2_EXTERNAL_MOMENT_PATH)/package/mpegts-js/mpegts-js.mk

# U-Boot's compiled-in default environment is board/zero2w/uboot-env.txt: the fragment's
# CONFIG_DEFAULT_ENV_FILE names this path inside the U-Boot tree (tests/emulated-board/
# build-uboot.sh copies it to the same place), so a blank or corrupt saved environment still
# runs boot.scr.
define MOMENT_UBOOT_DEFAULT_ENV
	cp $(BR2_EXTERNAL_MOMENT_PATH)/../board/zero2w/uboot-env.txt $(@D)/board/raspberrypi/rpi/moment-env.txt
endef
UBOOT_POST_EXTRACT_HOOKS += MOMENT_UBOOT_DEFAULT_ENV
