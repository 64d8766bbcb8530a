"""Real tiny VMs for the sandbox: the image (kernel + initramfs from Debian packages), the
config drive, and the QEMU guest backend."""
