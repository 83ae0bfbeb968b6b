# moment-recorder boot script (compiled to boot.scr with mkimage -T script).
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
	saveenv
	reset
fi
saveenv
echo "moment: booting slot ${boot_slot} (A left ${BOOT_A_LEFT}, B left ${BOOT_B_LEFT})"

# The firmware merged cmdline.txt into the device tree it passed (at ${fdt_addr}); keep it and
# add the slot's root and RAUC's slot name.
fdt addr ${fdt_addr}
fdt get value firmware_args /chosen bootargs
setenv bootargs "${firmware_args} root=/dev/mmcblk0p${boot_part} rauc.slot=${boot_slot}"

load mmc 0:${boot_part} ${kernel_addr_r} /boot/Image
booti ${kernel_addr_r} - ${fdt_addr}
echo "moment: slot ${boot_slot} did not boot"
reset
