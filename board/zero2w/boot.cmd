# moment-recorder boot script (compiled to boot.scr with mkimage -T script), run by the bootcmd
# of board/zero2w/uboot-env.txt.
# A/B boot counting as RAUC's U-Boot backend expects: BOOT_ORDER lists the slots to try,
# BOOT_x_LEFT the attempts each has left. Every boot takes one attempt from the first slot that
# has any; `rauc status mark-good` (moment-mark-good.service, once the recorder is healthy)
# sets it back to 3. A slot that fails three times in a row is skipped; when both are spent
# both get 3 again and the board resets (better than a dead camera).

test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv boot_part
setenv boot_slot
setenv boot_reset
for slot in ${BOOT_ORDER}; do
	if test -n "${boot_part}"; then
		true
	elif test "${slot}" = "A" && test ${BOOT_A_LEFT} -gt 0; then
		setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
		setenv boot_part 2
		setenv boot_slot A
	elif test "${slot}" = "B" && test ${BOOT_B_LEFT} -gt 0; then
		setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
		setenv boot_part 3
		setenv boot_slot B
	fi
done
if test -z "${boot_part}"; then
	echo "moment: no slot has attempts left; resetting both to 3"
	setenv BOOT_A_LEFT 3
	setenv BOOT_B_LEFT 3
	setenv boot_reset 1
fi

# Save only our own variables: the default environment (uboot-env.txt) plus the counters and
# machine_id. The runtime environment also holds what the firmware and U-Boot found at this
# boot (fdt_addr, fdtfile, serial#, board_rev, fdtcontroladdr...); U-Boot sets fdt_addr only
# when the environment lacks it, so a saved one would outlive a firmware that moves the DTB.
# Hence: runtime environment to RAM, back to the defaults, the counters on top, save, then the
# runtime environment again (over the defaults, which fill in what an older card lacks).
# env_text is a shell variable, not an environment one: `env default -a` leaves it. The text
# goes to fdt_addr_r, unused until the DTB is copied there below.
env_text=${fdt_addr_r}
env export -t -s 0x4000 ${env_text}
env default -a
env import -t ${env_text} - BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT machine_id
saveenv
env import -t ${env_text} -
test -z "${boot_reset}" || reset
echo "moment: booting slot ${boot_slot} (A left ${BOOT_A_LEFT}, B left ${BOOT_B_LEFT})"

# The DTB U-Boot runs on (fdtcontroladdr) is the one the firmware prepared at this boot:
# config.txt's overlays and dtparams applied, the camera camera_auto_detect found, cmdline.txt
# merged into /chosen/bootargs. Never ${fdt_addr}: an old boot script saved it, and a card may
# still carry a stale one. Its bootargs are the kernel's, whichever DTB the kernel gets.
fdt addr ${fdtcontroladdr}
fdt get value firmware_args /chosen bootargs
setenv bootargs "${firmware_args} root=/dev/mmcblk0p${boot_part} rauc.slot=${boot_slot}"
# machine_id (set once from Linux with fw_setenv) keeps the machine ID across boots of the
# read-only root; passed only when it is 32 lowercase hex digits (U-Boot's regex has no ranges).
setenv machine_id_shape
test -z "${machine_id}" || setexpr machine_id_shape gsub "[0123456789abcdef]" "x" "${machine_id}"
if test "${machine_id_shape}" = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; then
	setenv bootargs "${bootargs} systemd.machine_id=${machine_id}"
fi
# The camera the firmware detected: its overlay labels the sensor node cam_node, so the
# firmware's /__symbols__/cam_node is e.g. /soc/i2c0mux/i2c@1/imx708@1a, and the node's name
# (imx708) names the overlay the slot applies to its own DTB. Without a camera, fdt get prints
# a libfdt error first.
setenv cam_sensor
if fdt get value cam_sensor /__symbols__ cam_node; then
	setexpr cam_sensor sub ".*/" "" "${cam_sensor}"
	setexpr cam_sensor sub "@.*" "" "${cam_sensor}"
else
	echo "moment: the firmware found no camera (no /__symbols__/cam_node in its DTB)"
fi

# The kernel's DTB: the slot's own /boot/board.dtb with the overlays its /boot/overlays.env
# names (slot_overlays) and the camera's, so that an update brings the DTB and overlays of its
# kernel. Until the initrd and the kernel are loaded, ramdisk_addr_r and kernel_addr_r are
# scratch space. The DTB gets 64 KiB of room for the overlays (fdt resize) and must end, with
# the 12 KiB booti adds in place (CONFIG_SYS_FDT_PAD, fdt_high=all ones), below the initrd at
# ramdisk_addr_r, 1 MiB above fdt_addr_r. Each overlay is applied to a DTB saved first at
# ramdisk_addr_r: libfdt leaves a half-applied DTB when fdt apply fails, and that copy goes back.
# A slot without board.dtb (older than this script) or with an unusable one boots on the
# firmware's DTB, copied to fdt_addr_r as before (fdt move needs a working DTB first); a
# missing or failing overlay is left out. Never a dead board. (No apostrophe in the quoted
# text: U-Boot's hush takes it for a quote even there, and the block fails as a syntax error.)
setenv dtb_from
setenv dtb_overlays
setexpr dtb_room ${ramdisk_addr_r} - ${fdt_addr_r}
setexpr dtb_room ${dtb_room} - 0x3000
if test -e mmc 0:${boot_part} /boot/board.dtb; then
	if load mmc 0:${boot_part} ${fdt_addr_r} /boot/board.dtb && fdt addr ${fdt_addr_r}; then
		fdt resize 0x10000
		fdt header get dtb_size totalsize
		if test 0x${dtb_size} -le 0x${dtb_room}; then
			setenv dtb_from "slot ${boot_slot}"
		else
			echo "moment: /boot/board.dtb of slot ${boot_slot} needs 0x${dtb_size} bytes, more than the 0x${dtb_room} below the initrd"
		fi
	else
		echo "moment: /boot/board.dtb of slot ${boot_slot} is not a DTB"
	fi
else
	echo "moment: slot ${boot_slot} has no /boot/board.dtb"
fi
if test -n "${dtb_from}"; then
	setenv slot_overlays
	if test -e mmc 0:${boot_part} /boot/overlays.env; then
		load mmc 0:${boot_part} ${kernel_addr_r} /boot/overlays.env && env import -t ${kernel_addr_r} ${filesize} slot_overlays
	fi
	for overlay in ${slot_overlays} ${cam_sensor}; do
		cp.b ${fdt_addr_r} ${ramdisk_addr_r} ${dtb_size}
		if test ! -e mmc 0:${boot_part} /boot/overlays/${overlay}.dtbo; then
			echo "moment: slot ${boot_slot} has no /boot/overlays/${overlay}.dtbo; booting without it"
		elif load mmc 0:${boot_part} ${kernel_addr_r} /boot/overlays/${overlay}.dtbo && fdt apply ${kernel_addr_r}; then
			setenv dtb_overlays "${dtb_overlays} ${overlay}"
		else
			echo "moment: overlay ${overlay} of slot ${boot_slot} did not apply; booting without it"
			cp.b ${ramdisk_addr_r} ${fdt_addr_r} ${dtb_size}
		fi
	done
	test -n "${dtb_overlays}" || setenv dtb_overlays " none"
	echo "moment: DTB from slot ${boot_slot}, overlays:${dtb_overlays}"
else
	fdt addr ${fdtcontroladdr}
	fdt move ${fdtcontroladdr} ${fdt_addr_r}
	echo "moment: DTB from the firmware, overlays: those of config.txt"
fi

load mmc 0:${boot_part} ${kernel_addr_r} /boot/Image
setenv boot_initrd -
if test -e mmc 0:${boot_part} /boot/initrd; then
	load mmc 0:${boot_part} ${ramdisk_addr_r} /boot/initrd
	setenv boot_initrd ${ramdisk_addr_r}:${filesize}
fi
booti ${kernel_addr_r} ${boot_initrd} ${fdt_addr_r}
echo "moment: slot ${boot_slot} did not boot"
reset
