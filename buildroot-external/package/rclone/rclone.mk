################################################################################
#
# rclone
#
################################################################################

# Pinned. Upstream's release tarball (source with a go.mod); Buildroot's golang
# infrastructure runs `go mod vendor` after the download (support/download/go-post-process)
# so the build needs no network, and the hash below covers that vendored tarball.
RCLONE_VERSION = 1.69.1
RCLONE_SITE = $(call github,rclone,rclone,v$(RCLONE_VERSION))
RCLONE_LICENSE = MIT
RCLONE_LICENSE_FILES = COPYING
RCLONE_GOMOD = github.com/rclone/rclone
RCLONE_LDFLAGS = -X github.com/rclone/rclone/fs.Version=v$(RCLONE_VERSION)
# No FUSE mount on the camera: `rclone mount` is never used.
RCLONE_TAGS = noselfupdate
RCLONE_INSTALL_BINS = rclone

$(eval $(golang-package))
