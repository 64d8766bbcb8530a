"""The tiny guest's /init (busybox sh), in the initramfs next to busybox and a few kernel
modules. It does what a cloud image's boot does, in little: load the virtio and isofs modules,
find the config drive (label config-2), configure eth0 from ``network_data.json`` (IPv4 and
IPv6, default routes, the metadata address on-link), set the hostname, answer TCP port 22 with
an SSH banner, and run ``user_data`` when it starts with ``#!`` — as cloud-init runs user
scripts — with its output on the serial console. Lines ``fedprobe-guest: ...`` mark progress;
``fedprobe-guest: network up`` is the boot marker the sandbox waits for."""

from __future__ import annotations

BOOT_MARKER = "fedprobe-guest: network up"
BANNER = "SSH-2.0-OpenSSH_9.2p1 fedprobe-qemu-guest"

INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mkdir -p /proc /sys /dev /tmp /run /root /etc /mnt/config /var/log
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=755 run /run
exec </dev/console >/dev/console 2>&1
say() { echo "fedprobe-guest: $*"; }
say "init started (kernel $(uname -r))"
if grep -q 'fedprobe.hang' /proc/cmdline; then
    say "told to hang before networking (fault injection)"
    while :; do sleep 3600; done
fi
for m in $(cat /lib/modules/load-order); do insmod "/lib/modules/$m" 2>/dev/null; done
ip link set lo up

# the config drive
CD=""
for i in 1 2 3 4 5 6 7 8 9 10; do
    CD=$(findfs LABEL=config-2 2>/dev/null)
    [ -n "$CD" ] && break
    for d in /dev/vd? /dev/sr? /dev/sd?; do
        [ -b "$d" ] && mount -t iso9660 -o ro "$d" /mnt/config 2>/dev/null && CD=$d && break
    done
    [ -n "$CD" ] && break
    sleep 0.2
done
if ! grep -q ' /mnt/config ' /proc/mounts && [ -n "$CD" ]; then
    mount -t iso9660 -o ro "$CD" /mnt/config
fi
OS=/mnt/config/openstack/latest
if [ -r "$OS/meta_data.json" ]; then say "config drive $CD"; else say "no config drive found"; fi
H=$(sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p' "$OS/meta_data.json" 2>/dev/null | head -n1)
[ -n "$H" ] && hostname "$H" && echo "$H" > /etc/hostname

# eth0 from network_data.json: "A fam addr prefixlen" and "R fam dest/prefixlen gateway" lines
netlines() {
    grep -oE '"(type|ip_address|netmask|gateway|network)": *"[^"]*"' "$1" \
    | sed 's/"\([a-z_]*\)": *"\([^"]*\)"/\1 \2/' | awk '
    function bits(v,  n) { n = 0; while (v > 0) { n += v % 2; v = int(v / 2) } return n }
    function hex(h,  i, v) { v = 0; h = tolower(h)
        for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
        return v }
    function plen(m,  c, p, i, n) { n = 0
        if (m ~ /:/) { c = split(m, p, ":")
            for (i = 1; i <= c; i++) if (p[i] != "") n += bits(hex(p[i])) }
        else { c = split(m, p, "."); for (i = 1; i <= c; i++) n += bits(p[i] + 0) }
        return n }
    $1 == "type" { v = ($2 == "ipv4") ? 4 : ($2 == "ipv6") ? 6 : 0; addr = ""; got = 0; next }
    v && $1 == "ip_address" { addr = $2; next }
    v && $1 == "netmask" && !got { print "A", v, addr, plen($2); got = 1; next }
    v && $1 == "network" { dest = $2; next }
    v && $1 == "netmask" { mask = $2; next }
    v && $1 == "gateway" { print "R", v, dest "/" plen(mask), $2 }'
}
IF=eth0
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/class/net/$IF ] && break; sleep 0.2; done
echo 0 > /proc/sys/net/ipv6/conf/$IF/accept_dad 2>/dev/null
echo 0 > /proc/sys/net/ipv6/conf/$IF/accept_ra 2>/dev/null
ip link set $IF up
ADDRS=""
if [ -r "$OS/network_data.json" ]; then
    netlines "$OS/network_data.json" > /run/net.lines
    while read -r kind fam a b; do
        case "$kind.$a" in
            A.*) ip -$fam addr add "$a/$b" dev $IF && ADDRS="$ADDRS $a/$b" ;;
            R.0.0.0.0/0|R.::/0) ip -$fam route add default via "$b" dev $IF ;;
            R.*) ip -$fam route add "$a" via "$b" dev $IF ;;
        esac
    done < /run/net.lines
fi
# the metadata service: through the route network_data.json gave, else on this link
ip -4 route show 169.254.169.254 | grep -q . || ip -4 route add 169.254.169.254/32 dev $IF
say "network up:${ADDRS:- no addresses}"

# an SSH-like banner on port 22 for reachability checks (both families)
printf '#!/bin/sh\nprintf "@BANNER@\\r\\n"\nsleep 2\n' > /bin/fp-banner
chmod 755 /bin/fp-banner
nc -ll -p 22 -e /bin/fp-banner >/dev/null 2>&1 &

# user-data, as cloud-init runs a user script: once, as root, output to the console
if [ -r "$OS/user_data" ] && [ "$(head -c 2 "$OS/user_data")" = "#!" ]; then
    if grep -q 'fedprobe.no_userdata' /proc/cmdline; then
        say "user-data not run (fault injection)"
    else
        mkdir -p /var/lib/cloud/instance/scripts
        cp "$OS/user_data" /var/lib/cloud/instance/scripts/part-001
        chmod 700 /var/lib/cloud/instance/scripts/part-001
        say "running user-data"
        (cd /root && /var/lib/cloud/instance/scripts/part-001)
        say "user-data exited $?"
    fi
else
    say "no user-data script"
fi
say "boot finished"
while :; do sleep 3600; done
""".replace("@BANNER@", BANNER)
