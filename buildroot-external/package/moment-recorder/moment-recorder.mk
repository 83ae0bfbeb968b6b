################################################################################
#
# moment-recorder
#
################################################################################

# The source is this repository: the Cargo workspace one level above the external tree.
# A local package is rsynced into the build directory; target/, web/node_modules, demo/
# and the Buildroot output (ci/build-image.sh: output-image/) are left out.
MOMENT_RECORDER_VERSION = local
MOMENT_RECORDER_SITE = $(BR2_EXTERNAL_MOMENT_PATH)/..
MOMENT_RECORDER_SITE_METHOD = local
MOMENT_RECORDER_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /target --exclude /output-image --exclude /web/node_modules --exclude /demo
MOMENT_RECORDER_LICENSE = MIT OR Apache-2.0
MOMENT_RECORDER_SUBDIR = recorder/daemon

# Vendoring. Buildroot's cargo infrastructure vendors a crate's dependencies when it
# downloads the source tarball (support/download/cargo-post-process); a local source is never
# downloaded, so this hook does the same in the local package's extract step, the rsync:
# `cargo vendor --locked` into VENDOR/ and a .cargo/config.toml that replaces crates.io with it.
# Buildroot runs that step before the package's dependencies, so the hook must bring its own
# cargo, as the download step does for downloaded cargo packages: host-rustc is an order-only
# prerequisite of the rsync (below), and with BR2_PER_PACKAGE_DIRECTORIES this package's host
# directory is filled with host-rustc's before cargo runs. CARGO_HOME is the download
# directory's (BR_CARGO_HOME), locked as cargo-post-process locks it, so parallel packages never
# share a half-written registry, the crates are fetched once, and a build with BR2_DL_DIR
# copied to a machine without internet runs offline. Cargo.lock pins every crate.
define MOMENT_RECORDER_VENDOR_CRATES
	$(call prepare-per-package-directory,host-rustc)
	mkdir -p $(@D)/.cargo $(BR_CARGO_HOME)
	cd $(@D) && $(PKG_COMMON_CARGO_ENV) flock $(BR_CARGO_HOME)/.br-lock \
		$(HOST_DIR)/bin/cargo vendor --locked --versioned-dirs VENDOR \
		> $(@D)/.cargo/config.toml
endef
MOMENT_RECORDER_POST_RSYNC_HOOKS += MOMENT_RECORDER_VENDOR_CRATES
MOMENT_RECORDER_DEPENDENCIES = host-rustc

# The systemd unit and the default config are in overlay/, with the other units.
define MOMENT_RECORDER_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 \
		$(@D)/target/$(RUSTC_TARGET_NAME)/release/moment-recorder \
		$(TARGET_DIR)/usr/bin/moment-recorder
endef

$(eval $(cargo-package))

$(MOMENT_RECORDER_TARGET_RSYNC): | host-rustc
