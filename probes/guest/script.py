"""The user-data: a POSIX sh script (busybox sh, dash, bash) generated per run. It reports what
the VM sees as lines ``FPR <nonce> key=value`` on its stdout, which cloud-init (and the sandbox)
send to the console, and, given a report URL, also posts them there (probes/runner/inbox.py,
with busybox `wget --post-data`, or curl). It never contains a credential: only the run's random
nonce (and the URL, which is none)."""

from __future__ import annotations

import re

MACHINE_KEYS = ("total_cpu", "hs06", "shutdowntime", "grace_secs", "jobslots", "phys_cores",
                "log_cores")
JOB_KEYS = ("allocated_cpu", "hs06_job", "shutdowntime_job", "grace_secs_job", "jobstart_secs",
            "job_id", "wall_limit_secs", "cpu_limit_secs", "max_rss_bytes", "max_swap_bytes",
            "scratch_limit_bytes")
REPORT_VERSION = "1"

_TEMPLATE = r"""#!/bin/sh
# fedprobe guest check. Reports what this VM sees to its console; holds no credentials.
N=@NONCE@
P='@POST@'
C=0 R=""
[ -n "$P" ] && { R=$(mktemp 2>/dev/null || echo "/tmp/fpr-report.$$"); : >"$R"; }
line() { printf 'FPR %s %s\n' "$N" "$1"; [ -n "$R" ] && printf 'FPR %s %s\n' "$N" "$1" >>"$R"; }
say() { C=$((C + 1)); line "$(printf '%s' "$*" | tr -d '\r\n')"; }
# busybox 1.35's wget crashes with -T (Debian 12's busybox-static): then timeout(1) bounds it
fetch() { wget -q -T 3 -O- "$1" 2>/dev/null || curl -fsS -m 3 "$1" 2>/dev/null ||
          timeout 5 wget -q -O- "$1" 2>/dev/null; }
say "begin v=@VERSION@"
say "ran=1"
[ -r /proc/uptime ] && say "uptime=$(cut -d' ' -f1 /proc/uptime)"
META="" SRC=none
DEV=$(blkid -t LABEL=config-2 -o device 2>/dev/null | head -n1)
[ -z "$DEV" ] && DEV=$(findfs LABEL=config-2 2>/dev/null)
[ -z "$DEV" ] && [ -e /dev/disk/by-label/config-2 ] && DEV=/dev/disk/by-label/config-2
if [ -n "$DEV" ]; then
    MNT=$(mktemp -d 2>/dev/null || echo /tmp/fpr-cd.$$)
    mkdir -p "$MNT"
    if mount -o ro "$DEV" "$MNT" 2>/dev/null; then
        META=$(cat "$MNT/openstack/latest/meta_data.json" 2>/dev/null) && SRC=config-2
        umount "$MNT" 2>/dev/null
    fi
    rmdir "$MNT" 2>/dev/null
fi
if [ -z "$META" ]; then
    META=$(fetch http://169.254.169.254/openstack/latest/meta_data.json) && SRC=169.254.169.254
    [ -z "$META" ] && SRC=none
fi
say "metadata=$SRC"
metakey() {
    printf '%s' "$META" | tr ',' '\n' | sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n1
}
MF=${MACHINEFEATURES:-} JF=${JOBFEATURES:-} HOW=env
if [ -z "$MF$JF" ]; then MF=$(metakey machinefeatures); JF=$(metakey jobfeatures); HOW=metadata; fi
[ -z "$MF$JF" ] && HOW=none
say "mjf.source=$HOW"
mjf() {
    kind=$1 base=$2; shift 2
    [ -z "$base" ] && return
    for k in "$@"; do
        case "$base" in
            http://*|https://*) v=$(fetch "$base/$k") || continue ;;
            *) [ -f "$base/$k" ] || continue; v=$(cat "$base/$k") ;;
        esac
        say "mjf.$kind.$k=$(printf '%s\n' "$v" | head -n1)"
    done
}
mjf machine "$MF" @MACHINE_KEYS@
mjf job "$JF" @JOB_KEYS@
if command -v ip >/dev/null 2>&1; then
    # a here-document, not a pipe: the loop must run in this shell so C keeps counting
    while read -r _ dev fam addr _; do
        case "$addr" in ""|169.254.*) continue ;; esac
        say "addr.$fam=$dev $addr"
    done <<ADDRS
$(ip -o addr show scope global 2>/dev/null)
ADDRS
    say "route.inet=$(ip -4 route show default 2>/dev/null | head -n1)"
    say "route.inet6=$(ip -6 route show default 2>/dev/null | head -n1)"
fi
KEYS=0
for f in /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys; do
    [ -f "$f" ] || continue
    n=$(grep -c '^[^#]' "$f" 2>/dev/null)
    [ "${n:-0}" -gt 0 ] && KEYS=$((KEYS + n)) && say "hygiene.authorized_keys_file=$f"
done
say "hygiene.authorized_keys=$KEYS"
for f in /root/.aws/credentials /root/.config/openstack/clouds.yaml /etc/openstack/clouds.yaml \
         /root/.netrc /root/.ssh/id_rsa /root/.ssh/id_ed25519 /root/.ssh/id_ecdsa \
         /home/*/.ssh/id_rsa /home/*/.ssh/id_ed25519 /home/*/.aws/credentials; do
    [ -f "$f" ] && say "hygiene.credential_file=$f"
done
[ -r /proc/uptime ] && say "uptime.end=$(cut -d' ' -f1 /proc/uptime)"
C=$((C + 1))
line "end lines=$C"
if [ -n "$R" ]; then
    # a few tries: the guest's network may come up after this runs
    for _ in 1 2 3 4 5; do
        if timeout 15 wget -q -O /dev/null --post-data="$(cat "$R")" "$P" 2>/dev/null ||
           curl -fsS -m 15 -o /dev/null --data-binary @"$R" "$P" 2>/dev/null; then
            echo "fedprobe: report posted to $P"; rm -f "$R"; exit 0
        fi
        sleep 3
    done
    echo "fedprobe: could not post the report to $P"
    rm -f "$R"
fi
"""

_NONCE = re.compile(r"^[0-9a-f]{16,64}$")


_URL = re.compile(r"^https?://[\x21-\x26\x28-\x7e]+$")  # printable, no space, no quote


def user_data(nonce: str, post_url: str | None = None) -> str:
    """The guest script for one run (the nonce is hex and the URL has no quote, so both go in
    as they are)."""
    if not _NONCE.match(nonce):
        raise ValueError("nonce must be 16-64 lowercase hex characters")
    if post_url is not None and not _URL.match(post_url):
        raise ValueError(f"report URL {post_url!r:.80}: not a plain http(s) URL")
    return (_TEMPLATE.replace("@NONCE@", nonce).replace("@POST@", post_url or "")
            .replace("@VERSION@", REPORT_VERSION)
            .replace("@MACHINE_KEYS@", " ".join(MACHINE_KEYS))
            .replace("@JOB_KEYS@", " ".join(JOB_KEYS)))
