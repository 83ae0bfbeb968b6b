# The packages of the MOMENT external tree; ci/check-image.sh asserts that every package
# directory is both sourced in Config.in and included here.
include $(BR2_EXTERNAL_MOMENT_PATH)/package/moment-recorder/moment-recorder.mk
include $(BR2_EXTERNAL_MOMENT_PATH)/package/rclone/rclone.mk
include $(BR2_EXTERNAL_MOMENT_PATH)/package/hls-js/hls-js.mk
